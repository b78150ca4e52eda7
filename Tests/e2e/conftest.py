"""Fixtures of the end-to-end suite.

    test_ca          CertPaths: a throwaway CA and the fake provider's leaf (session-wide)
    provider         ProviderHandle: a fake provider for this test (port, base_url, requests, progress, ...)
    provider_ssl     ssl.SSLContext trusting the test CA, for clients talking to the provider directly
    gateway_binary   Path of the built gateway (the test is skipped when there is none)
    start_gateway    factory: start_gateway(**GatewayProcess options) -> a started GatewayProcess
    gateway          a GatewayProcess with the default configuration, in front of `provider`
"""
from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from certs import CertPaths, make_test_ca
from fake_provider import ProviderHandle, start_in_thread
from gateway_harness import GatewayProcess, gateway_binary as find_gateway_binary


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> CertPaths:
    return make_test_ca(tmp_path_factory.mktemp("test-ca"))


@pytest.fixture
def provider(test_ca: CertPaths) -> Iterator[ProviderHandle]:
    _, handle = start_in_thread(test_ca.leaf_cert, test_ca.leaf_key)
    try:
        yield handle
    finally:
        handle.stop()
    # A handler that crashed answered nothing useful; make that a failure of the test that caused it.
    assert not handle.errors, "fake provider handler errors:\n" + "\n".join(handle.errors)


@pytest.fixture
def provider_ssl(test_ca: CertPaths) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(test_ca.ca_cert))


@pytest.fixture(scope="session")
def gateway_binary() -> Path:
    try:
        return find_gateway_binary()
    except FileNotFoundError as error:
        pytest.skip(str(error))


@pytest.fixture
def start_gateway(gateway_binary: Path, provider: ProviderHandle, test_ca: CertPaths
                  ) -> Iterator[Callable[..., GatewayProcess]]:
    started: list[GatewayProcess] = []

    def start(**options: Any) -> GatewayProcess:
        gateway = GatewayProcess(gateway_binary, provider.port, test_ca.ca_cert, **options)
        started.append(gateway)
        return gateway.start()

    try:
        yield start
    finally:
        for gateway in started:
            gateway.close()


@pytest.fixture
def gateway(start_gateway: Callable[..., GatewayProcess]) -> GatewayProcess:
    return start_gateway()
