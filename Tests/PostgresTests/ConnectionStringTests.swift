import Postgres
import Testing

/// Aiming a connection string at another database keeps every server of a failover list.
@Suite("Connection strings")
struct ConnectionStringTests {
    @Test func urlFormKeepsHostsAndParameters() {
        #expect(
            PostgresConfiguration.connectionString("postgres://u@127.0.0.1:5432/certfleet", replacingDatabase: "other")
                == "postgres://u@127.0.0.1:5432/other")
        #expect(
            PostgresConfiguration.connectionString(
                "postgresql://u@h1:5432,h2:5433/certfleet?target_session_attrs=read-write", replacingDatabase: "other")
                == "postgresql://u@h1:5432,h2:5433/other?target_session_attrs=read-write")
        #expect(
            PostgresConfiguration.connectionString("postgres://u@h1,h2?sslmode=require", replacingDatabase: "db")
                == "postgres://u@h1,h2/db?sslmode=require")
    }

    @Test func keywordFormGetsALaterDbname() {
        #expect(
            PostgresConfiguration.connectionString("host=h1,h2 port=1,2 target_session_attrs=read-write", replacingDatabase: "o'x")
                == "host=h1,h2 port=1,2 target_session_attrs=read-write dbname='o\\'x'")
    }
}
