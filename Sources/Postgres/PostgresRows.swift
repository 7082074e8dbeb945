/// The materialised result of one statement (rows are copied out of libpq at once).
public struct PostgresRows: Sendable, Sequence {
    /// Column names, in order.
    public let columns: [String]
    let types: [PostgresType]
    let values: [[String?]]
    /// The number of rows the command affected (`UPDATE 3` → 3), or the row count.
    public let affectedRows: Int

    init(columns: [String], types: [PostgresType], values: [[String?]], affectedRows: Int) {
        self.columns = columns
        self.types = types
        self.values = values
        self.affectedRows = affectedRows
        var index: [String: Int] = [:]
        for (position, name) in columns.enumerated() where index[name] == nil { index[name] = position }
        self.columnIndex = index
    }

    let columnIndex: [String: Int]

    public var count: Int { values.count }
    public var isEmpty: Bool { values.isEmpty }
    public var first: PostgresRow? { values.isEmpty ? nil : self[0] }

    public subscript(position: Int) -> PostgresRow { PostgresRow(rows: self, row: position) }

    public func makeIterator() -> AnyIterator<PostgresRow> {
        var position = 0
        return AnyIterator {
            guard position < values.count else { return nil }
            defer { position += 1 }
            return self[position]
        }
    }
}

/// One row of a result; decode columns by name into Swift types.
public struct PostgresRow: Sendable {
    let rows: PostgresRows
    let row: Int

    /// Decodes column NAME as T (use an Optional type for nullable columns).
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, _ name: String) throws -> T {
        guard let column = rows.columnIndex[name] else {
            throw PostgresError.decoding("no column '\(name)' in the result (have \(rows.columns.joined(separator: ", ")))")
        }
        return try decode(type, at: column)
    }

    /// Decodes the column at POSITION as T.
    public func decode<T: PostgresDecodable>(_ type: T.Type = T.self, at column: Int) throws -> T {
        guard let text = rows.values[row][column] else { return try T.postgresNull() }
        do {
            return try T(postgresText: text, type: rows.types[column])
        } catch let error as PostgresError {
            throw PostgresError.decoding("column '\(rows.columns[column])': \(error.message)")
        }
    }

    /// True when the column is SQL NULL.
    public func isNull(_ name: String) -> Bool {
        guard let column = rows.columnIndex[name] else { return true }
        return rows.values[row][column] == nil
    }
}
