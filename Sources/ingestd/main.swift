import Foundation

FileHandle.standardError.write(Data("ingestd: not built yet\n".utf8))
exit(1)
