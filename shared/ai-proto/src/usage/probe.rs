//! Shape-detecting deserialisers: they read only the members that can hold usage and skip
//! everything else without building JSON values, so probing a large body stays cheap.

use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::Usage;
use crate::de::Key;

/// The few members that can hold usage; everything else is skipped without building values.
#[derive(Default)]
pub(super) struct Body {
    usage: Option<RawUsage>,
    usage_metadata: Option<GeminiUsage>,
    nested: Option<RawUsage>,
}

// Lives on the stack for one call; boxing would only add an allocation.
#[allow(clippy::large_enum_variant)]
pub(super) enum Probe {
    One(Body),
    Many(Vec<Body>),
    Nothing,
}

impl Probe {
    pub(super) fn into_usage(self) -> Option<Usage> {
        match self {
            Probe::One(b) => b.into_usage(),
            Probe::Many(bodies) => {
                let mut acc: Option<Usage> = None;
                for u in bodies.into_iter().filter_map(Body::into_usage) {
                    acc.get_or_insert_with(Usage::default).merge(&u);
                }
                acc
            }
            Probe::Nothing => None,
        }
    }
}

impl Body {
    fn into_usage(self) -> Option<Usage> {
        let usage = if let Some(u) = self.usage.and_then(RawUsage::normalise) {
            u
        } else if let Some(u) = self.nested.and_then(RawUsage::normalise) {
            u
        } else {
            self.usage_metadata?.normalise()?
        };
        Some(usage)
    }
}

impl<'de> Deserialize<'de> for Probe {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Probe;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Probe, A::Error> {
                BodyVisitor.visit_map(map).map(Probe::One)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Probe, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element::<MaybeBody>()? {
                    if let Some(b) = item.0 {
                        out.push(b);
                    }
                }
                Ok(Probe::Many(out))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Probe, E> {
                Ok(Probe::Nothing)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Probe, E> {
                Ok(Probe::Nothing)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Probe, E> {
                Ok(Probe::Nothing)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Probe, E> {
                Ok(Probe::Nothing)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Probe, E> {
                Ok(Probe::Nothing)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Probe, E> {
                Ok(Probe::Nothing)
            }
        }
        d.deserialize_any(V)
    }
}

/// An element that may or may not be an object; non-objects are skipped.
struct MaybeBody(Option<Body>);

impl<'de> Deserialize<'de> for MaybeBody {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(MaybeBody(match Probe::deserialize(d)? {
            Probe::One(b) => Some(b),
            _ => None,
        }))
    }
}

struct BodyVisitor;

impl<'de> Visitor<'de> for BodyVisitor {
    type Value = Body;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Body, A::Error> {
        let mut body = Body::default();
        while let Some(key) = map.next_key::<KeyName>()? {
            match key {
                KeyName::Usage => body.usage = map.next_value::<Lenient<RawUsage>>()?.0,
                KeyName::UsageMetadata => {
                    body.usage_metadata = map.next_value::<Lenient<GeminiUsage>>()?.0
                }
                // `response` (Responses API events) and `message` (Anthropic message_start).
                KeyName::Nested => {
                    let inner = map.next_value::<Lenient<NestedUsage>>()?.0;
                    if let Some(u) = inner.and_then(|n| n.usage) {
                        body.nested = Some(u);
                    }
                }
                KeyName::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(body)
    }
}

enum KeyName {
    Usage,
    UsageMetadata,
    Nested,
    Other,
}

impl<'de> Deserialize<'de> for KeyName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = KeyName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyName, E> {
                Ok(match v {
                    "usage" => KeyName::Usage,
                    "usageMetadata" => KeyName::UsageMetadata,
                    "response" | "message" => KeyName::Nested,
                    _ => KeyName::Other,
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// Deserialises `T` from an object; any other JSON value (or `null`) yields `None` instead of an
/// error, so one odd member does not hide usage found elsewhere.
struct Lenient<T>(Option<T>);

trait FromObject: Sized {
    fn from_object<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
}

impl<'de, T: FromObject> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: FromObject> Visitor<'de> for V<T> {
            type Value = Lenient<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Lenient<T>, A::Error> {
                T::from_object(map).map(|t| Lenient(Some(t)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Lenient<T>, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Lenient<T>, E> {
                Ok(Lenient(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Lenient<T>, D::Error> {
                Lenient::deserialize(d)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A token count: non-negative integers (also integral floats and numeric strings, which some
/// proxies emit); anything else counts as absent.
#[derive(Default, Clone, Copy)]
struct Count(Option<u64>);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Count;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a token count")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                Ok(Count(Some(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
                Ok(Count(u64::try_from(v).ok()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Count, E> {
                let ok = v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v < 1.8e19;
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                Ok(Count(ok.then_some(v as u64)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Count, E> {
                Ok(Count(v.trim().parse().ok()))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Count, E> {
                Ok(Count(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Count, E> {
                Ok(Count(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Count, E> {
                Ok(Count(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Count, D::Error> {
                Count::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Count(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Count, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Count(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// Reads an object's members into named counts via `f(key, map)`.
fn read_counts<'de, A: MapAccess<'de>>(
    mut map: A,
    mut f: impl FnMut(&str, &mut A) -> Result<bool, A::Error>,
) -> Result<(), A::Error> {
    while let Some(key) = map.next_key::<Key<'de>>()? {
        if !f(&key.0, &mut map)? {
            map.next_value::<IgnoredAny>()?;
        }
    }
    Ok(())
}

#[derive(Default)]
struct RawUsage {
    prompt_tokens: Count,
    completion_tokens: Count,
    total_tokens: Count,
    input_tokens: Count,
    output_tokens: Count,
    cache_read: Count,
    cache_creation: Count,
    cached_details: Count,
    reasoning_details: Count,
}

/// `{cached_tokens}` / `{reasoning_tokens}` detail objects.
#[derive(Default)]
struct Details {
    cached: Count,
    reasoning: Count,
}

impl FromObject for Details {
    fn from_object<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        let mut d = Details::default();
        read_counts(map, |k, m| {
            match k {
                "cached_tokens" => d.cached = m.next_value()?,
                "reasoning_tokens" => d.reasoning = m.next_value()?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(d)
    }
}

impl FromObject for RawUsage {
    fn from_object<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        let mut u = RawUsage::default();
        read_counts(map, |k, m| {
            match k {
                "prompt_tokens" => u.prompt_tokens = m.next_value()?,
                "completion_tokens" => u.completion_tokens = m.next_value()?,
                "total_tokens" => u.total_tokens = m.next_value()?,
                "input_tokens" => u.input_tokens = m.next_value()?,
                "output_tokens" => u.output_tokens = m.next_value()?,
                "cache_read_input_tokens" => u.cache_read = m.next_value()?,
                "cache_creation_input_tokens" => u.cache_creation = m.next_value()?,
                "prompt_tokens_details" | "input_tokens_details" => {
                    if let Some(d) = m.next_value::<Lenient<Details>>()?.0 {
                        u.cached_details = d.cached;
                    }
                }
                "completion_tokens_details" | "output_tokens_details" => {
                    if let Some(d) = m.next_value::<Lenient<Details>>()?.0 {
                        u.reasoning_details = d.reasoning;
                    }
                }
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(u)
    }
}

impl RawUsage {
    fn normalise(self) -> Option<Usage> {
        let openai_chat = self.prompt_tokens.0.is_some() || self.completion_tokens.0.is_some();
        let usage = if openai_chat {
            Usage {
                input_tokens: self.prompt_tokens.0,
                output_tokens: self.completion_tokens.0,
                total_tokens: self.total_tokens.0,
                cached_input_tokens: self.cached_details.0.or(self.cache_read.0),
                reasoning_tokens: self.reasoning_details.0,
                cache_creation_input_tokens: self.cache_creation.0,
            }
        } else {
            // Responses API and Anthropic share the names; only Anthropic sends cache_* fields,
            // and it counts them outside input_tokens.
            let extra = self
                .cache_read
                .0
                .unwrap_or(0)
                .saturating_add(self.cache_creation.0.unwrap_or(0));
            Usage {
                input_tokens: self.input_tokens.0.map(|i| i.saturating_add(extra)),
                output_tokens: self.output_tokens.0,
                total_tokens: self.total_tokens.0,
                cached_input_tokens: self.cached_details.0.or(self.cache_read.0),
                reasoning_tokens: self.reasoning_details.0,
                cache_creation_input_tokens: self.cache_creation.0,
            }
        };
        (!usage.is_empty()).then_some(usage)
    }
}

struct NestedUsage {
    usage: Option<RawUsage>,
}

impl FromObject for NestedUsage {
    fn from_object<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        let mut n = NestedUsage { usage: None };
        read_counts(map, |k, m| {
            if k != "usage" {
                return Ok(false);
            }
            n.usage = m.next_value::<Lenient<RawUsage>>()?.0;
            Ok(true)
        })?;
        Ok(n)
    }
}

#[derive(Default)]
struct GeminiUsage {
    prompt: Count,
    candidates: Count,
    total: Count,
    cached: Count,
    thoughts: Count,
    tool_use_prompt: Count,
}

impl FromObject for GeminiUsage {
    fn from_object<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error> {
        let mut g = GeminiUsage::default();
        read_counts(map, |k, m| {
            match k {
                "promptTokenCount" => g.prompt = m.next_value()?,
                "candidatesTokenCount" => g.candidates = m.next_value()?,
                "totalTokenCount" => g.total = m.next_value()?,
                "cachedContentTokenCount" => g.cached = m.next_value()?,
                "thoughtsTokenCount" => g.thoughts = m.next_value()?,
                "toolUsePromptTokenCount" => g.tool_use_prompt = m.next_value()?,
                _ => return Ok(false),
            }
            Ok(true)
        })?;
        Ok(g)
    }
}

impl GeminiUsage {
    fn normalise(self) -> Option<Usage> {
        let sum = |a: Count, b: Count| match (a.0, b.0) {
            (None, None) => None,
            (x, y) => Some(x.unwrap_or(0).saturating_add(y.unwrap_or(0))),
        };
        let usage = Usage {
            input_tokens: sum(self.prompt, self.tool_use_prompt),
            output_tokens: sum(self.candidates, self.thoughts),
            total_tokens: self.total.0,
            cached_input_tokens: self.cached.0,
            reasoning_tokens: self.thoughts.0,
            cache_creation_input_tokens: None,
        };
        (!usage.is_empty()).then_some(usage)
    }
}
