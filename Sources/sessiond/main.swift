import Foundation

FileHandle.standardError.write(Data("sessiond: not built yet\n".utf8))
exit(1)
