import Foundation

FileHandle.standardError.write(Data("flightlog: not built yet\n".utf8))
exit(1)
