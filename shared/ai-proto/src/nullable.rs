//! Serde helpers that keep "absent" and "explicit `null`" apart.
//!
//! `Option<T>` with serde's defaults turns `null` into `None`, which `skip_serializing_if`
//! then drops; for fields where clients or providers care (e.g. `"content": null` on assistant
//! tool-call messages, `"finish_reason": null` in chunks) the distinction must survive a
//! rewrite.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// A field that may be absent (`None`), explicitly `null` (`Some(None)`) or set.
pub type Nullable<T> = Option<Option<T>>;

/// For `Nullable<T>` fields: a present field, even `null`, becomes `Some`.
pub(crate) fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// For `Option<Value>` fields: a present `null` becomes `Some(Value::Null)`.
pub(crate) fn present_value<'de, D>(d: D) -> Result<Option<Value>, D::Error>
where
    D: Deserializer<'de>,
{
    Value::deserialize(d).map(Some)
}
