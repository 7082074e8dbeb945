// swift-tools-version:6.1
import PackageDescription

// The modules above Store hand it the database and never query it themselves: they do not
// import Postgres, and with member import visibility its API is not reachable through Store's
// `Database` alias either (a test also checks the imports).
let storeClients: [SwiftSetting] = [.enableUpcomingFeature("MemberImportVisibility")]

// Module layout follows DESIGN.md: C libraries are wrapped once each
// (CLibPQ → Postgres, COpenSSL → X509, CRabbitMQ → AMQP); nothing else sees C pointers.
let package = Package(
    name: "CertFleet",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "certfleet", targets: ["certfleet"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // Only to rename its `X509` module (pulled in by swift-nio-extras/-ssl via
        // async-http-client), which clashes with ours: see ACMETests below.
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.30.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // The console's server-rendered pages (HTML-escaped by default).
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        // Traces: the spans API, and its OpenTelemetry exporter over OTLP/HTTP only (no gRPC anywhere;
        // the gRPC trait would also pull in grpc-swift and double the build time).
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        // Pure domain: no I/O, imports none of the other modules.
        .target(name: "CertFleetCore"),

        // PostgreSQL through libpq.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .target(
            name: "Postgres",
            dependencies: [
                "CLibPQ", "CertFleetCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]),

        // OpenSSL 3 for X.509, keys, CSRs, AES-GCM, JWS.
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .target(name: "COpenSSLShim", dependencies: ["COpenSSL"]),
        .target(name: "X509", dependencies: ["COpenSSL", "COpenSSLShim", "CertFleetCore"]),

        // RabbitMQ (AMQP 0-9-1) through rabbitmq-c.
        .systemLibrary(name: "CRabbitMQ", pkgConfig: "librabbitmq", providers: [.apt(["librabbitmq-dev"])]),
        .target(
            name: "AMQP",
            dependencies: [
                "CRabbitMQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]),

        // zlib, for the API's gzip-compressed /metrics (its per-certificate series are compressed
        // once per change, not per scrape: GzipSegments).
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // Repositories over Postgres (and the migrator).
        .target(
            name: "Store",
            dependencies: [
                "CertFleetCore", "Postgres", "X509", "Telemetry",
                .product(name: "Logging", package: "swift-log"),
            ]),

        // W3C trace context carried through plain string headers (HTTP, AMQP, outbox rows) and the
        // span helpers every module shares; the exporter is bootstrapped by CertFleetOptions.
        .target(
            name: "Telemetry",
            dependencies: [
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
            ]),

        // The outbox publisher and CertFleet's AMQP names: what API, Scheduler and Jobs share
        // to put messages on the broker (the message types themselves are pure, in Core).
        .target(
            name: "Messaging",
            dependencies: [
                "CertFleetCore", "Store", "AMQP", "Telemetry",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: storeClients),

        // Job handlers and the worker loop (the job protocol).
        .target(
            name: "Jobs",
            dependencies: [
                "CertFleetCore", "Store", "Messaging", "AMQP", "X509", "ACME", "DNS", "DNSSolving", "Telemetry",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: storeClients),

        // DNS wire format, RFC 2136 UPDATE and TSIG (RFC 8945) in Swift, over NIO UDP/TCP;
        // HMACs come from X509 (OpenSSL stays there).
        .target(
            name: "DNS",
            dependencies: [
                "X509",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]),

        // A project's DNS providers put to work: which provider solves which name (zone map),
        // the ledger of written records and the preflight; shared by the issue job and the API.
        .target(
            name: "DNSSolving",
            dependencies: ["CertFleetCore", "Store", "ACME", "DNS", "X509"],
            swiftSettings: storeClients),

        // The timer: outbox relay, lease reaper, expiry scan.
        .target(
            name: "Scheduler",
            dependencies: [
                "CertFleetCore", "Store", "Messaging", "AMQP", "ACME", "X509", "Telemetry",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: storeClients),

        // RFC 8555 client and challenge solvers over AsyncHTTPClient.
        .target(
            name: "ACME",
            dependencies: [
                "X509", "CertFleetCore", "DNS", "Telemetry",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                // certfleet_acme_client_* (a no-op until the process bootstraps a backend).
                .product(name: "Metrics", package: "swift-metrics"),
                // A custom CA for the ACME server (Pebble), the http-01 responder, DNS over UDP.
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),

        // The HTTP API (`certfleet api`): accepts requests, writes rows, submits jobs; no slow work.
        .target(
            name: "API",
            dependencies: [
                "Store", "Messaging", "X509", "CertFleetCore", "AMQP", "ACME", "DNS", "DNSSolving", "Telemetry", "CZlib",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: storeClients),

        // The flags and environment every command shares: database, broker, logging.
        .target(
            name: "CertFleetOptions",
            dependencies: [
                "Postgres", "AMQP", "Messaging",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),

        // `certfleet bench …`: each benchmark beside a baseline measured in the same run.
        .target(
            name: "Benchmarks",
            dependencies: [
                "CertFleetCore", "CertFleetOptions", "Postgres", "Store", "X509", "AMQP", "ACME", "Messaging", "Jobs", "Scheduler",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]),

        // The executable: commands and wiring only.
        .executableTarget(
            name: "certfleet",
            dependencies: [
                "CertFleetCore", "CertFleetOptions", "Benchmarks", "Postgres", "Store", "X509", "AMQP", "ACME", "Messaging", "Jobs",
                "Scheduler", "API",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                // Workers' and schedulers' --metrics-port endpoint.
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                // The CLI (`certfleet certs …`) talks HTTP to the API.
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]),

        .testTarget(name: "CertFleetCoreTests", dependencies: ["CertFleetCore"]),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", "TestSupport"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "Postgres", "X509", "TestSupport"]),
        .testTarget(name: "X509Tests", dependencies: ["X509", "CertFleetCore", "TestSupport"]),
        .testTarget(name: "DNSTests", dependencies: ["DNS", "X509", "TestSupport"]),
        .testTarget(name: "AMQPTests", dependencies: ["AMQP", "Messaging", "TestSupport"]),
        .testTarget(
            name: "JobsTests",
            dependencies: ["Jobs", "ACME", "Scheduler", "Store", "Messaging", "Postgres", "AMQP", "X509", "TestSupport", "ServiceTestSupport"]),
        .testTarget(
            name: "APITests",
            dependencies: [
                "API", "Jobs", "Store", "Messaging", "Postgres", "AMQP", "X509", "CertFleetCore", "Benchmarks", "TestSupport",
                "ServiceTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
            ]),
        .testTarget(
            name: "ACMETests",
            dependencies: [
                "ACME", "X509", "TestSupport",
                // SwiftPM refuses two `X509` targets in one graph even when one is unused;
                // aliasing swift-certificates' module here renames it for the whole graph.
                // The WASI-only condition keeps it out of every build on our platforms.
                .product(
                    name: "X509", package: "swift-certificates", moduleAliases: ["X509": "SwiftCertificatesX509"],
                    condition: .when(platforms: [.wasi])),
            ]),

        // Shared test helpers: locating the checkout, running deploy/local scripts, env.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        // A private database, AMQP prefix and master key per test, for the service-level tests.
        .target(
            name: "ServiceTestSupport", dependencies: ["Store", "Messaging", "AMQP", "Postgres", "X509", "TestSupport"],
            path: "Tests/ServiceTestSupport"),
    ]
)
