import Foundation

FileHandle.standardError.write(Data("operatord: not built yet\n".utf8))
exit(1)
