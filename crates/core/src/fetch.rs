//! How a column is fetched, in each source's own terms. The core carries these values from discovery to the reader
//! without interpreting them; only the source that made a column reads its variant.

/// A column's fetch, tagged with the source it belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    Postgres(PgFetch),
    Mssql(MssqlFetch),
    Snowflake(SfFetch),
}

/// How a PostgreSQL column is selected and which binary format its decoder reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PgFetch {
    Bool,
    Int2,
    Int4,
    Int8,
    Oid,
    Float4,
    Float8,
    Numeric,
    /// money, fetched as `::numeric` (exact; the text form depends on the server's locale).
    Money,
    Text,
    Uuid,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Bytea,
    Json,
    Jsonb,
    /// Arrays, fetched as `to_jsonb(...)`: nested lists, numbers exact.
    Array,
    /// Anything else, fetched as `::text`: the type's own text form.
    CastText,
}

/// How a SQL Server column is selected so that its value arrives exact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MssqlFetch {
    /// As itself.
    Plain,
    /// money / smallmoney as decimal(19,4) / decimal(10,4): the wire form is a float in tiberius, and inexact.
    Money,
    /// text / ntext / xml / sql_variant as nvarchar(max): the legacy and variant forms.
    Text,
    /// image as varbinary(max).
    Binary,
    /// hierarchyid, geography, geometry (CLR types): their `ToString()` text.
    Clr,
}

/// A Snowflake column's type family: how it is selected and how its Arrow values decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SfFetch {
    /// NUMBER(p,s): Arrow integers with the scale in the field's metadata, or decimal128.
    Fixed,
    Real,
    Text,
    Binary,
    Boolean,
    Date,
    Time,
    TimestampNtz,
    TimestampLtz,
    TimestampTz,
    /// VARIANT / OBJECT / ARRAY: JSON text.
    Variant,
    Object,
    Array,
    /// GEOGRAPHY / GEOMETRY: their text output (GeoJSON unless the account says otherwise).
    Geo,
    /// Anything else (VECTOR, a type newer than this code): selected as TO_VARCHAR, its text.
    CastText,
}
