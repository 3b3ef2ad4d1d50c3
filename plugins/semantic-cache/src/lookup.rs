//! The lookup as a pure state machine: exact GET → embed → partitioned KNN → threshold and
//! verification (and rerank) → answer GET. Each step yields the next [`Call`]; the plugin makes
//! it and feeds the reply back. Also what to write after a miss ([`store_calls`]).

use ai_proto::chat::ChatResponse;

use crate::backend::{normalize, BackendError, Call, Reply};
use crate::config::{Built, Exact};
use crate::key::Keys;
use crate::vector::{Candidate, Entry, Query, Space};
use crate::verify;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    Exact,
    Semantic,
    /// An entry written by Higress ai-cache (`readAiCacheEntries`).
    AiCache,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Exact => "exact",
            Layer::Semantic => "semantic",
            Layer::AiCache => "ai_cache",
        }
    }

    /// The counter of this layer's hits.
    pub fn hits_metric(self) -> &'static str {
        match self {
            Layer::Exact => "semantic_cache.hits.exact",
            Layer::Semantic => "semantic_cache.hits.semantic",
            Layer::AiCache => "semantic_cache.hits.ai_cache",
        }
    }
}

#[derive(Debug)]
pub enum Next {
    /// Make this call and feed its reply to [`Lookup::on_reply`].
    Call(Call),
    Hit {
        answer: Box<ChatResponse>,
        layer: Layer,
        similarity: f32,
        /// A semantic hit back-fills the exact layer for this request's fingerprint.
        backfill: Option<Call>,
    },
    /// Nothing usable: forward the request (and store its answer).
    Miss,
    Failed(BackendError),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    ExactGet,
    AiCacheGet,
    Embed,
    Search,
    Rerank,
    AnswerGet,
}

pub struct Lookup {
    keys: Keys,
    phase: Phase,
    /// The query embedding (unit length), kept to store the answer under it after a miss.
    vector: Option<Vec<f32>>,
    /// Accepted candidates, best first.
    candidates: Vec<Candidate>,
    /// Best similarity seen (for logs), accepted or not.
    pub best_similarity: Option<f32>,
}

impl Lookup {
    pub fn start(b: &Built, keys: Keys) -> (Lookup, Next) {
        let mut l = Lookup {
            keys,
            phase: Phase::ExactGet,
            vector: None,
            candidates: Vec::new(),
            best_similarity: None,
        };
        let next = match &b.exact {
            Some(exact) => Next::Call(exact.get(&exact.key(&l.keys.fingerprint))),
            None => l.begin_semantic(b),
        };
        (l, next)
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn vector(&self) -> Option<&[f32]> {
        self.vector.as_deref()
    }

    /// The GET of Higress ai-cache's entry for this request, when `readAiCacheEntries` allows it:
    /// a standalone question (see [`Keys::standalone`]) of a listed model.
    fn ai_cache_get(&mut self, b: &Built) -> Option<Next> {
        let exact = b.exact.as_ref()?;
        let text = self
            .keys
            .question
            .as_deref()
            .filter(|_| self.keys.standalone)?;
        // A 64-hex question would name one of our own fingerprint keys.
        let ours = text.len() == 64 && text.bytes().all(|c| c.is_ascii_hexdigit());
        if ours || !b.ai_cache_models.contains(&self.keys.model) {
            return None;
        }
        self.phase = Phase::AiCacheGet;
        Some(Next::Call(exact.get(&format!("{}{text}", exact.prefix))))
    }

    fn begin_semantic(&mut self, b: &Built) -> Next {
        match (&b.semantic, &self.keys.question) {
            (Some(s), Some(q)) => {
                self.phase = Phase::Embed;
                Next::Call(s.embedder.request(q))
            }
            _ => Next::Miss,
        }
    }

    pub fn on_reply(&mut self, b: &Built, reply: Reply) -> Next {
        match self.step(b, reply) {
            Ok(next) => next,
            Err(e) => Next::Failed(e),
        }
    }

    fn step(&mut self, b: &Built, reply: Reply) -> Result<Next, BackendError> {
        match self.phase {
            Phase::ExactGet => match Exact::parse_get(reply)? {
                Some(bytes) => Ok(hit(&bytes, Layer::Exact, 1.0, None).unwrap_or(Next::Miss)),
                None => Ok(self
                    .ai_cache_get(b)
                    .unwrap_or_else(|| self.begin_semantic(b))),
            },
            Phase::AiCacheGet => match Exact::parse_get(reply)? {
                Some(text) => Ok(Next::Hit {
                    answer: Box::new(ai_cache_answer(&text, &self.keys.model)),
                    layer: Layer::AiCache,
                    similarity: 1.0,
                    backfill: None,
                }),
                None => Ok(self.begin_semantic(b)),
            },
            Phase::Embed => {
                let s = semantic(b)?;
                let mut v = s.embedder.parse(reply)?;
                normalize(&mut v);
                let call = s.store.search(&Query {
                    space: Space {
                        model_id: s.embedder.model_id(),
                        dims: v.len(),
                    },
                    partition: &self.keys.partition,
                    vector: &v,
                    top_k: s.top_k,
                });
                self.vector = Some(v);
                self.phase = Phase::Search;
                Ok(Next::Call(call))
            }
            Phase::Search => {
                let s = semantic(b)?;
                let v = self.vector.as_deref().unwrap_or_default();
                let q = Query {
                    space: Space {
                        model_id: s.embedder.model_id(),
                        dims: v.len(),
                    },
                    partition: &self.keys.partition,
                    vector: v,
                    top_k: s.top_k,
                };
                let found = s.store.parse_search(&q, reply)?;
                self.best_similarity = found.iter().map(|c| c.similarity).reduce(f32::max);
                let question = self.keys.question.as_deref().unwrap_or_default();
                self.candidates = found
                    .into_iter()
                    .filter(|c| c.similarity >= b.threshold)
                    .filter(|c| {
                        !b.verify
                            || c.question
                                .as_deref()
                                .is_some_and(|cq| verify::compatible(question, cq))
                    })
                    .collect();
                if self.candidates.is_empty() {
                    return Ok(Next::Miss);
                }
                if let Some(r) = &b.reranker {
                    let docs: Vec<&str> = self
                        .candidates
                        .iter()
                        .map(|c| c.question.as_deref().unwrap_or_default())
                        .collect();
                    self.phase = Phase::Rerank;
                    return Ok(Next::Call(r.request(question, &docs)));
                }
                Ok(self.fetch_next(b))
            }
            Phase::Rerank => {
                let r = b
                    .reranker
                    .as_ref()
                    .ok_or_else(|| BackendError::new("no reranker"))?;
                let scores = r.parse(reply, self.candidates.len())?;
                let mut scored: Vec<(f32, Candidate)> = scores
                    .into_iter()
                    .zip(std::mem::take(&mut self.candidates))
                    .filter(|(s, _)| *s >= r.threshold())
                    .collect();
                scored.sort_by(|a, b| b.0.total_cmp(&a.0));
                self.candidates = scored.into_iter().map(|(_, c)| c).collect();
                Ok(self.fetch_next(b))
            }
            Phase::AnswerGet => {
                let similarity = self.candidates.first().map_or(0.0, |c| c.similarity);
                if let Some(bytes) = Exact::parse_get(reply)? {
                    let backfill = self.backfill(b, &bytes);
                    if let Some(h) = hit(&bytes, Layer::Semantic, similarity, backfill) {
                        return Ok(h);
                    }
                }
                // The answer expired before its vector (or is unreadable): next candidate.
                Ok(self.fetch_next_after_drop(b))
            }
        }
    }

    fn fetch_next_after_drop(&mut self, b: &Built) -> Next {
        if !self.candidates.is_empty() {
            self.candidates.remove(0);
        }
        self.fetch_next(b)
    }

    /// Serves the best remaining candidate: inline answer, or a GET of its answer key.
    fn fetch_next(&mut self, b: &Built) -> Next {
        while let Some(c) = self.candidates.first() {
            if let Some(bytes) = c.answer.clone() {
                let sim = c.similarity;
                if let Some(h) = hit(&bytes, Layer::Semantic, sim, self.backfill(b, &bytes)) {
                    return h;
                }
            } else if let (Some(key), Some(exact)) = (&c.answer_key, &b.exact) {
                self.phase = Phase::AnswerGet;
                return Next::Call(exact.get(key));
            }
            self.candidates.remove(0);
        }
        Next::Miss
    }

    fn backfill(&self, b: &Built, bytes: &[u8]) -> Option<Call> {
        b.exact
            .as_ref()
            .map(|e| e.set(&e.key(&self.keys.fingerprint), bytes))
    }
}

fn semantic(b: &Built) -> Result<&crate::config::Semantic, BackendError> {
    b.semantic
        .as_ref()
        .ok_or_else(|| BackendError::new("no semantic layer"))
}

/// A hit, unless the stored bytes are not a stored answer (then the entry is ignored).
fn hit(bytes: &[u8], layer: Layer, similarity: f32, backfill: Option<Call>) -> Option<Next> {
    let answer: ChatResponse = serde_json::from_slice(bytes).ok()?;
    if answer.choices.is_empty() {
        return None;
    }
    Some(Next::Hit {
        answer: Box::new(answer),
        layer,
        similarity,
        backfill,
    })
}

/// An ai-cache entry (the answer text only, as `cacheValueFrom` extracted it) as a stored answer:
/// one choice finished with `stop`; its usage is unknown, so none is claimed as saved.
fn ai_cache_answer(text: &[u8], model: &str) -> ChatResponse {
    let text = String::from_utf8_lossy(text);
    serde_json::from_value(serde_json::json!({
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                     "finish_reason": "stop"}],
    }))
    .unwrap_or_default()
}

/// The writes storing `answer` for `keys`: the exact-layer string and the vector store's insert
/// calls (to be sent one at a time, in order).
pub struct StoreCalls {
    pub exact: Option<Call>,
    pub inserts: Vec<Call>,
}

/// The writes storing `answer` for `keys` (exact string and vector entry).
pub fn store_calls(b: &Built, keys: &Keys, vector: Option<&[f32]>, answer: &[u8]) -> StoreCalls {
    let answer_key = b
        .exact
        .as_ref()
        .map(|e| e.key(&keys.fingerprint))
        .unwrap_or_default();
    let exact = b.exact.as_ref().map(|e| e.set(&answer_key, answer));
    let mut inserts = Vec::new();
    if let (Some(s), Some(v), Some(q)) = (&b.semantic, vector, &keys.question) {
        let ttl_secs = b.exact.as_ref().map_or(0, |e| e.ttl_secs);
        inserts = s.store.insert(&Entry {
            space: Space {
                model_id: s.embedder.model_id(),
                dims: v.len(),
            },
            partition: &keys.partition,
            vector: v,
            id: &keys.fingerprint,
            question: q,
            answer_key: &answer_key,
            answer,
            ttl_secs,
        });
    }
    StoreCalls { exact, inserts }
}

#[cfg(test)]
mod tests;
