import CertFleetCore
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The certbot/lego deploy-hook convention: `<directory>/<certificate name>/` holds
/// `fullchain.pem`, `privkey.pem` (0600), `chain.pem` and `cert.pem`, then a reload
/// command runs. The four files switch together: each version is written (write, fsync)
/// into a fresh directory under `<directory>/.certfleet/<name>/`, and `<directory>/<name>`
/// is a symlink renamed over the old one — a reader sees the old set or the new one,
/// never half of each, and a crash before the rename leaves the old set serving.
struct FilesDeliverer: Deliverer {
    let directory: String
    let reloadCommand: String?
    let reloadTimeout: Duration

    init(directory: String, reloadCommand: String?, reloadTimeout: Duration) {
        self.directory = directory
        self.reloadCommand = reloadCommand
        self.reloadTimeout = reloadTimeout
    }

    func deliver(_ bundle: DeliveryBundle) async throws -> String {
        let live = "\(directory)/\(bundle.certificateName)"
        if let held = Self.heldVersion(live), held > bundle.version {
            throw DeliveryFailure(.downgradeRefused, "\(live) holds version \(held); version \(bundle.version) is older")
        }
        let store = "\(directory)/.certfleet/\(bundle.certificateName)"
        let fresh = "\(bundle.version).\(UUID().uuidString.prefix(8).lowercased())"
        do {
            try FileManager.default.createDirectory(
                atPath: "\(store)/\(fresh)", withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
            try Self.write("\(store)/\(fresh)/privkey.pem", bundle.keyPEM, mode: 0o600)
            try Self.write("\(store)/\(fresh)/cert.pem", bundle.leafPEM, mode: 0o644)
            try Self.write("\(store)/\(fresh)/chain.pem", bundle.intermediatesPEM, mode: 0o644)
            try Self.write("\(store)/\(fresh)/fullchain.pem", bundle.fullchainPEM, mode: 0o644)
            try Self.write(
                "\(store)/\(fresh)/certfleet.json",
                """
                {"certificate":"\(bundle.certificateID.uuidString.lowercased())","version":\(bundle.version),\
                "serial":"\(bundle.serial)","fingerprint_sha256":"\(bundle.fingerprintSHA256)"}\n
                """, mode: 0o644)
            try Self.syncDirectory("\(store)/\(fresh)")
            try Self.swapSymlink(live, to: ".certfleet/\(bundle.certificateName)/\(fresh)", in: directory)
        } catch let failure as DeliveryFailure {
            throw failure
        } catch {
            throw DeliveryFailure(.writeFailed, "writing \(live): \(error)")
        }
        Self.removeOld(store, keeping: fresh)
        guard let reloadCommand else { return "written \(live)" }
        let output = try await ReloadCommand(command: reloadCommand, timeout: reloadTimeout)
            .run(environment: [
                "RENEWED_LINEAGE": live, "CERTFLEET_CERTIFICATE": bundle.certificateName,
                "CERTFLEET_VERSION": String(bundle.version),
            ])
        return "written \(live); reloaded\(output.isEmpty ? "" : ": \(output)")"
    }

    /// The version the live directory holds, from its `certfleet.json`.
    static func heldVersion(_ live: String) -> Int? {
        guard let data = FileManager.default.contents(atPath: "\(live)/certfleet.json"),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return nil }
        return object["version"] as? Int
    }

    static func write(_ path: String, _ text: String, mode: mode_t) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw DeliveryFailure(.writeFailed, "open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        _ = fchmod(fd, mode)
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            guard written > 0 else { throw DeliveryFailure(.writeFailed, "write \(path): \(String(cString: strerror(errno)))") }
            offset += written
        }
        guard fsync(fd) == 0 else { throw DeliveryFailure(.writeFailed, "fsync \(path): \(String(cString: strerror(errno)))") }
    }

    static func syncDirectory(_ path: String) throws {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw DeliveryFailure(.writeFailed, "open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        _ = fsync(fd)
    }

    /// `ln -s DESTINATION LIVE` made atomically: a new link renamed over the old one. A real
    /// directory at LIVE (made by hand) is moved aside once, since rename cannot replace it.
    static func swapSymlink(_ live: String, to destination: String, in directory: String) throws {
        var info = stat()
        if lstat(live, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            guard rename(live, "\(live).before-certfleet") == 0 else {
                throw DeliveryFailure(.writeFailed, "\(live) is a directory and could not be moved aside: \(String(cString: strerror(errno)))")
            }
        }
        let temporary = "\(live).certfleet-\(UUID().uuidString.prefix(8).lowercased())"
        guard symlink(destination, temporary) == 0 else {
            throw DeliveryFailure(.writeFailed, "symlink \(temporary): \(String(cString: strerror(errno)))")
        }
        guard rename(temporary, live) == 0 else {
            unlink(temporary)
            throw DeliveryFailure(.writeFailed, "rename to \(live): \(String(cString: strerror(errno)))")
        }
        try syncDirectory(directory)
    }

    /// Earlier versions' directories (the live one and KEEPING stay); their keys go with them.
    static func removeOld(_ store: String, keeping: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: store) else { return }
        for entry in entries where entry != keeping {
            try? FileManager.default.removeItem(atPath: "\(store)/\(entry)")
        }
    }
}
