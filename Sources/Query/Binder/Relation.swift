import StrataCore

/// What a FROM clause names: one of Strata's tables, or the result of a WITH query or a
/// subquery (materialized first). The binder resolves names against its columns.
public struct Relation: Sendable {
    public var name: String
    public var columns: [(name: String, type: SQLType)]
    /// The stored table, when the relation is one (then the scan can prune by its ranges).
    public var schema: TableSchema?
    /// The rows, when the relation is a computed result.
    public var result: QueryResult?

    public var describe: String { schema != nil ? "table \(name)" : "\(name)" }

    public static func table(_ name: String, offset: Int) throws(QueryError) -> Relation {
        guard let schema = Binder.tables.first(where: { $0.name == name }) else {
            let names = Binder.tables.map(\.name)
            let hint = Binder.nearest(name, names).map { "; did you mean \($0)?" } ?? ""
            throw QueryError(.name, "unknown table '\(name)'\(hint) (tables: \(names.joined(separator: ", ")))", offset: offset)
        }
        // Hidden columns (a ticket's merge state) start with `_` and are not visible.
        let columns = schema.columns.filter { !$0.name.hasPrefix("_") }.map { (name: $0.name, type: SQLType.of($0.type)) }
        return Relation(name: name, columns: columns, schema: schema, result: nil)
    }

    public static func derived(_ name: String, _ r: QueryResult) -> Relation {
        Relation(name: name, columns: r.columns.map { (name: $0.name, type: $0.type) }, schema: nil, result: r)
    }
}
