//! Message content: a string, an array of typed parts, or `null`.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The `content` of a message or delta.
///
/// A field that is absent is `None` on the containing `Option<Content>`; an explicit `null` is
/// [`Content::Null`] so that it is written back as `null`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Content {
    /// Explicit `null` (assistant messages that only carry tool calls).
    #[default]
    Null,
    /// Plain string content.
    Text(String),
    /// Array of content parts.
    Parts(Vec<ContentPart>),
}

impl Content {
    /// All text of the content: the string itself, or the text parts joined with `\n`.
    /// Borrows unless several text parts must be joined.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Content::Null => Cow::Borrowed(""),
            Content::Text(s) => Cow::Borrowed(s),
            Content::Parts(parts) => {
                let mut texts = parts.iter().filter_map(ContentPart::as_text);
                let Some(first) = texts.next() else {
                    return Cow::Borrowed("");
                };
                match texts.next() {
                    None => Cow::Borrowed(first),
                    Some(second) => {
                        let mut joined = format!("{first}\n{second}");
                        for t in texts {
                            joined.push('\n');
                            joined.push_str(t);
                        }
                        Cow::Owned(joined)
                    }
                }
            }
        }
    }

    /// Whether there is no text and no other part.
    pub fn is_empty(&self) -> bool {
        match self {
            Content::Null => true,
            Content::Text(s) => s.is_empty(),
            Content::Parts(p) => p.is_empty(),
        }
    }

    /// Mutable references to every text segment (the string, or each text part), for in-place
    /// rewriting such as redaction; non-text parts are left alone.
    pub fn texts_mut(&mut self) -> impl Iterator<Item = &mut String> {
        let (single, parts) = match self {
            Content::Null => (None, &mut [][..]),
            Content::Text(s) => (Some(s), &mut [][..]),
            Content::Parts(p) => (None, p.as_mut_slice()),
        };
        single.into_iter().chain(
            parts
                .iter_mut()
                .filter(|p| p.kind == ContentPart::TEXT)
                .filter_map(|p| p.text.as_mut()),
        )
    }

    /// Replaces the text while keeping non-text parts: a string (or `null`) becomes the new
    /// string; for parts, the first text part gets `text`, other text parts are removed, and a
    /// text part is inserted first if there was none.
    pub fn set_text(&mut self, text: impl Into<String>) {
        let text = text.into();
        match self {
            Content::Null | Content::Text(_) => *self = Content::Text(text),
            Content::Parts(parts) => {
                let mut text = Some(text);
                parts.retain_mut(|p| {
                    if p.kind != ContentPart::TEXT {
                        return true;
                    }
                    match text.take() {
                        Some(t) => {
                            p.text = Some(t);
                            true
                        }
                        None => false,
                    }
                });
                if let Some(t) = text {
                    parts.insert(0, ContentPart::text(t));
                }
            }
        }
    }
}

impl From<String> for Content {
    fn from(s: String) -> Self {
        Content::Text(s)
    }
}

impl From<&str> for Content {
    fn from(s: &str) -> Self {
        Content::Text(s.to_owned())
    }
}

impl Serialize for Content {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Content::Null => s.serialize_unit(),
            Content::Text(t) => s.serialize_str(t),
            Content::Parts(p) => p.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Content;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, an array of content parts or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Content, E> {
                Ok(Content::Text(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Content, E> {
                Ok(Content::Text(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Content, E> {
                Ok(Content::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Content, E> {
                Ok(Content::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Content, D::Error> {
                Content::deserialize(d)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Content, A::Error> {
                let mut parts = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(p) = seq.next_element()? {
                    parts.push(p);
                }
                Ok(Content::Parts(parts))
            }
        }
        d.deserialize_any(V)
    }
}

/// For `Option<Content>` fields: present `null` becomes `Some(Content::Null)`.
pub(crate) fn present_content<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Content>, D::Error> {
    Content::deserialize(d).map(Some)
}

/// One element of an array `content`.
///
/// A struct rather than an enum so that part types this crate does not know (and their fields)
/// pass through unchanged; `kind` is the `type` tag.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ContentPart {
    /// The `type` tag: `text`, `image_url`, `input_audio`, `file`, `refusal`, or anything else.
    #[serde(rename = "type")]
    pub kind: String,
    /// Text of a `text` part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Image of an `image_url` part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<ImageUrl>,
    /// Audio of an `input_audio` part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_audio: Option<InputAudio>,
    /// File of a `file` part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileInput>,
    /// Text of a `refusal` part (assistant messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// Fields this crate does not model, kept in order.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ContentPart {
    /// `type` of text parts.
    pub const TEXT: &'static str = "text";
    /// `type` of image parts.
    pub const IMAGE_URL: &'static str = "image_url";
    /// `type` of audio parts.
    pub const INPUT_AUDIO: &'static str = "input_audio";
    /// `type` of file parts.
    pub const FILE: &'static str = "file";
    /// `type` of refusal parts.
    pub const REFUSAL: &'static str = "refusal";

    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        ContentPart {
            kind: Self::TEXT.to_owned(),
            text: Some(text.into()),
            ..Self::default()
        }
    }

    /// An image part referencing `url` (http(s) or `data:` URL).
    pub fn image_url(url: impl Into<String>) -> Self {
        ContentPart {
            kind: Self::IMAGE_URL.to_owned(),
            image_url: Some(ImageUrl {
                url: url.into(),
                detail: None,
                extra: Map::new(),
            }),
            ..Self::default()
        }
    }

    /// The text if this is a text part.
    pub fn as_text(&self) -> Option<&str> {
        if self.kind == Self::TEXT {
            self.text.as_deref()
        } else {
            None
        }
    }
}

/// `image_url` object of an image part.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ImageUrl {
    /// URL or base64 `data:` URL.
    pub url: String,
    /// `auto`, `low` or `high`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `input_audio` object of an audio part.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct InputAudio {
    /// Base64 audio.
    pub data: String,
    /// `wav`, `mp3`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `file` object of a file part.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FileInput {
    /// ID of an uploaded file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_id: Option<String>,
    /// File name for inline data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// Base64 inline file data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_data: Option<String>,
    /// Fields this crate does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
