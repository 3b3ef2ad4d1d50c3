//! The folding state behind `StreamAccumulator`: merges chunk deltas and charges every byte it
//! keeps against the limit.

use serde_json::{Map, Value};

use super::StreamError;
use crate::chat::{
    ChatChunk, ChatResponse, ChatUsage, Choice, ChunkChoice, Content, Delta, FunctionCall, Message,
    Role, ToolCall,
};
use crate::error::OpenAiError;
use crate::sse::DONE;

/// Rough per-entry bookkeeping cost charged for each new choice or tool call, so a stream of
/// many tiny choices cannot grow without limit while text stays small.
const ENTRY_COST: usize = 64;

#[derive(Debug, Clone)]
pub(super) struct Fold {
    limit: usize,
    pub(super) size: usize,
    pub(super) chunks: usize,
    pub(super) done: bool,
    pub(super) error: Option<StreamError>,
    id: Option<String>,
    created: Option<u64>,
    model: Option<String>,
    service_tier: Option<Option<String>>,
    system_fingerprint: Option<Option<String>>,
    choices: Vec<ChoiceAcc>,
    pub(super) usage: Option<ChatUsage>,
    extra: Extra,
}

#[derive(Debug, Clone, Default)]
struct ChoiceAcc {
    index: u32,
    role: Option<Role>,
    content: Option<String>,
    reasoning: Option<Option<String>>,
    refusal: Option<Option<String>>,
    tool_calls: Vec<ToolCallAcc>,
    function_call: Option<FunctionAcc>,
    finish_reason: Option<String>,
    logprobs: Option<Value>,
    choice_extra: Extra,
    message_extra: Extra,
}

#[derive(Debug, Clone, Default)]
struct ToolCallAcc {
    index: u32,
    id: Option<String>,
    kind: Option<String>,
    function: FunctionAcc,
    extra: Extra,
}

#[derive(Debug, Clone, Default)]
struct FunctionAcc {
    name: Option<String>,
    arguments: String,
    extra: Extra,
}

/// Vendor fields merged last-wins, with their size tracked so replacing a value every chunk
/// (e.g. Azure `content_filter_results`) does not count repeatedly.
#[derive(Debug, Clone, Default)]
struct Extra {
    map: Map<String, Value>,
}

impl Fold {
    pub(super) fn new(limit: usize) -> Self {
        Fold {
            limit,
            size: 0,
            chunks: 0,
            done: false,
            error: None,
            id: None,
            created: None,
            model: None,
            service_tier: None,
            system_fingerprint: None,
            choices: Vec::new(),
            usage: None,
            extra: Extra::default(),
        }
    }

    pub(super) fn check(&self) -> Result<(), StreamError> {
        match &self.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    pub(super) fn fail(&mut self, e: StreamError) -> StreamError {
        if self.error.is_none() {
            self.error = Some(e.clone());
        }
        e
    }

    /// Bytes the limit still allows: how far a text buffer may grow ahead of its content.
    fn room(&self) -> usize {
        self.limit.saturating_sub(self.size)
    }

    /// Charges `n` bytes against the limit.
    fn charge(&mut self, n: usize) -> Result<(), StreamError> {
        let size = self.size.saturating_add(n);
        if size > self.limit {
            return Err(self.fail(StreamError::Overflow { limit: self.limit }));
        }
        self.size = size;
        Ok(())
    }

    pub(super) fn push_data(&mut self, data: &str) -> Result<(), StreamError> {
        self.check()?;
        let data = data.trim();
        if data == DONE {
            self.done = true;
            return Ok(());
        }
        let chunk: ChatChunk = match serde_json::from_str(data) {
            Ok(c) => c,
            Err(e) => return Err(self.fail(StreamError::InvalidChunk(e.to_string()))),
        };
        self.push_chunk(chunk)
    }

    pub(super) fn push_chunk(&mut self, mut chunk: ChatChunk) -> Result<(), StreamError> {
        if let Some(err) = chunk.extra.get("error") {
            let err = OpenAiError::from_error_value(err).unwrap_or_else(|| OpenAiError {
                message: err.to_string(),
                ..OpenAiError::default()
            });
            return Err(self.fail(StreamError::Upstream(Box::new(err))));
        }
        self.chunks += 1;
        // Azure's first chunk carries empty id/model; keep looking for real ones.
        let id = chunk.id.take().filter(|s| !s.is_empty());
        if self.id.is_none() {
            if let Some(id) = id {
                self.charge(id.len())?;
                self.id = Some(id);
            }
        }
        let model = chunk.model.take().filter(|s| !s.is_empty());
        if self.model.is_none() {
            if let Some(m) = model {
                self.charge(m.len())?;
                self.model = Some(m);
            }
        }
        if self.created.is_none() {
            self.created = chunk.created.filter(|&c| c != 0);
        }
        // Repeated on every chunk: keep the latest non-null value and charge only the change,
        // so long streams are not billed for the same string thousands of times.
        let held = self.service_tier.take();
        self.service_tier = self.replace_meta(held, chunk.service_tier.take())?;
        let held = self.system_fingerprint.take();
        self.system_fingerprint = self.replace_meta(held, chunk.system_fingerprint.take())?;
        if let Some(Some(usage)) = chunk.usage.take() {
            self.usage = Some(usage);
        }
        // Per-chunk stream padding; meaningless in an assembled answer.
        chunk.extra.remove("obfuscation");
        let extra = std::mem::take(&mut chunk.extra);
        self.merge_extra(Target::Top, extra)?;
        for choice in chunk.choices {
            self.push_choice(choice)?;
        }
        Ok(())
    }

    fn replace_meta(
        &mut self,
        held: Option<Option<String>>,
        new: Option<Option<String>>,
    ) -> Result<Option<Option<String>>, StreamError> {
        let len =
            |v: &Option<Option<String>>| v.as_ref().and_then(Option::as_ref).map_or(0, String::len);
        match new {
            Some(Some(v)) => {
                self.size = self.size.saturating_sub(len(&held));
                let new = Some(Some(v));
                self.charge(len(&new))?;
                Ok(new)
            }
            Some(None) if held.is_none() => Ok(Some(None)),
            _ => Ok(held),
        }
    }

    fn choice_slot(&mut self, index: u32) -> Result<usize, StreamError> {
        if let Some(pos) = self.choices.iter().position(|c| c.index == index) {
            return Ok(pos);
        }
        self.charge(ENTRY_COST)?;
        self.choices.push(ChoiceAcc {
            index,
            ..ChoiceAcc::default()
        });
        Ok(self.choices.len() - 1)
    }

    fn push_choice(&mut self, choice: ChunkChoice) -> Result<(), StreamError> {
        let ChunkChoice {
            index,
            delta,
            logprobs,
            finish_reason,
            extra,
        } = choice;
        let slot = self.choice_slot(index)?;
        if let Some(Some(reason)) = finish_reason {
            self.charge(reason.len())?;
            if let Some(c) = self.choices.get_mut(slot) {
                c.finish_reason = Some(reason);
            }
        }
        if let Some(lp) = logprobs {
            self.merge_logprobs(slot, lp)?;
        }
        self.merge_extra(Target::Choice(slot), extra)?;
        if let Some(delta) = delta {
            self.push_delta(slot, delta)?;
        }
        Ok(())
    }

    fn push_delta(&mut self, slot: usize, delta: Delta) -> Result<(), StreamError> {
        let Delta {
            role,
            content,
            reasoning_content,
            refusal,
            tool_calls,
            function_call,
            extra,
        } = delta;
        let text_len =
            |s: &Option<Option<String>>| s.as_ref().and_then(|s| s.as_ref()).map_or(0, String::len);
        // A `null` fragment is not content: tool-call answers must end up with `content: null`.
        let content_text = match content {
            None | Some(Content::Null) => None,
            Some(Content::Text(s)) => Some(s),
            Some(parts) => Some(parts.text().into_owned()),
        };
        let added = content_text.as_ref().map_or(0, String::len)
            + text_len(&reasoning_content)
            + text_len(&refusal);
        self.charge(added)?;
        let room = self.room();
        let Some(c) = self.choices.get_mut(slot) else {
            return Ok(());
        };
        if c.role.is_none() {
            c.role = role;
        }
        if let Some(text) = content_text {
            match c.content.as_mut() {
                Some(held) => push_capped(held, &text, room),
                // The first fragment becomes the buffer instead of being copied into one.
                None => c.content = Some(text),
            }
        }
        append_nullable(&mut c.reasoning, reasoning_content, room);
        append_nullable(&mut c.refusal, refusal, room);
        if let Some(calls) = tool_calls {
            for (pos, call) in calls.into_iter().enumerate() {
                self.push_tool_call(slot, pos, call)?;
            }
        }
        if let Some(f) = function_call {
            let FunctionCall {
                name,
                arguments,
                extra,
            } = f;
            self.charge(
                name.as_ref().map_or(0, String::len) + arguments.as_ref().map_or(0, String::len),
            )?;
            let extra_size = self.extra_growth(&extra);
            self.charge(extra_size)?;
            let room = self.room();
            if let Some(c) = self.choices.get_mut(slot) {
                let acc = c.function_call.get_or_insert_with(FunctionAcc::default);
                merge_function(acc, name, arguments, extra, room);
            }
        }
        self.merge_extra(Target::Message(slot), extra)
    }

    fn push_tool_call(
        &mut self,
        slot: usize,
        pos: usize,
        call: ToolCall,
    ) -> Result<(), StreamError> {
        let ToolCall {
            index,
            id,
            kind,
            function,
            extra,
        } = call;
        let Some(c) = self.choices.get(slot) else {
            return Ok(());
        };
        // Without `index` (some OpenAI-compatible servers), a new id starts a new call and
        // anything else continues the last one.
        let existing = match index {
            Some(i) => c.tool_calls.iter().position(|t| t.index == i),
            None => match &id {
                Some(id) if !c.tool_calls.iter().any(|t| t.id.as_ref() == Some(id)) => None,
                Some(id) => c.tool_calls.iter().position(|t| t.id.as_ref() == Some(id)),
                None => c.tool_calls.len().checked_sub(1),
            },
        };
        let new_index = index.unwrap_or_else(|| {
            c.tool_calls
                .iter()
                .map(|t| t.index.saturating_add(1))
                .max()
                .unwrap_or(0)
                .max(u32::try_from(pos).unwrap_or(u32::MAX))
        });
        let (name, arguments, fextra) = match function {
            Some(f) => (f.name, f.arguments, f.extra),
            None => (None, None, Map::new()),
        };
        let mut cost = id.as_ref().map_or(0, String::len)
            + kind.as_ref().map_or(0, String::len)
            + name.as_ref().map_or(0, String::len)
            + arguments.as_ref().map_or(0, String::len)
            + self.extra_growth(&extra)
            + self.extra_growth(&fextra);
        if existing.is_none() {
            cost += ENTRY_COST;
        }
        self.charge(cost)?;
        let room = self.room();
        let Some(c) = self.choices.get_mut(slot) else {
            return Ok(());
        };
        let pos = match existing {
            Some(p) => p,
            None => {
                c.tool_calls.push(ToolCallAcc {
                    index: new_index,
                    ..ToolCallAcc::default()
                });
                c.tool_calls.len() - 1
            }
        };
        let Some(acc) = c.tool_calls.get_mut(pos) else {
            return Ok(());
        };
        if acc.id.is_none() {
            acc.id = id.filter(|s| !s.is_empty());
        }
        if acc.kind.is_none() {
            acc.kind = kind;
        }
        merge_function(&mut acc.function, name, arguments, fextra, room);
        for (k, v) in extra {
            acc.extra.map.insert(k, v);
        }
        Ok(())
    }

    fn merge_logprobs(&mut self, slot: usize, lp: Value) -> Result<(), StreamError> {
        let cost = json_size(&lp);
        self.charge(cost)?;
        let Some(c) = self.choices.get_mut(slot) else {
            return Ok(());
        };
        match (&mut c.logprobs, lp) {
            (Some(Value::Object(acc)), Value::Object(new)) => {
                // `content` and `refusal` are token lists split across chunks.
                for (k, v) in new {
                    match (acc.get_mut(&k), v) {
                        (Some(Value::Array(a)), Value::Array(b)) => a.extend(b),
                        (Some(_), Value::Null) => {}
                        (_, v) => {
                            acc.insert(k, v);
                        }
                    }
                }
            }
            (slot @ (None | Some(Value::Null)), lp) => *slot = Some(lp),
            (_, _) => {}
        }
        Ok(())
    }

    /// Bytes by which merging `extra` last-wins would grow the held fields (approximate).
    fn extra_growth(&self, extra: &Map<String, Value>) -> usize {
        extra.iter().map(|(k, v)| k.len() + json_size(v)).sum()
    }

    fn merge_extra(
        &mut self,
        target: Target,
        extra: Map<String, Value>,
    ) -> Result<(), StreamError> {
        if extra.is_empty() {
            return Ok(());
        }
        let held = match target {
            Target::Top => &self.extra,
            Target::Choice(s) => match self.choices.get(s) {
                Some(c) => &c.choice_extra,
                None => return Ok(()),
            },
            Target::Message(s) => match self.choices.get(s) {
                Some(c) => &c.message_extra,
                None => return Ok(()),
            },
        };
        let mut grow = 0usize;
        let mut shrink = 0usize;
        for (k, v) in &extra {
            grow += k.len() + json_size(v);
            if let Some(old) = held.map.get(k) {
                shrink += k.len() + json_size(old);
            }
        }
        self.size = self.size.saturating_sub(shrink);
        self.charge(grow)?;
        let held = match target {
            Target::Top => &mut self.extra,
            Target::Choice(s) => match self.choices.get_mut(s) {
                Some(c) => &mut c.choice_extra,
                None => return Ok(()),
            },
            Target::Message(s) => match self.choices.get_mut(s) {
                Some(c) => &mut c.message_extra,
                None => return Ok(()),
            },
        };
        for (k, v) in extra {
            held.map.insert(k, v);
        }
        Ok(())
    }

    pub(super) fn build(&self) -> ChatResponse {
        let mut choices: Vec<Choice> = self.choices.iter().map(ChoiceAcc::build).collect();
        choices.sort_by_key(|c| c.index);
        ChatResponse {
            id: self.id.clone(),
            object: Some("chat.completion".to_owned()),
            created: self.created,
            model: self.model.clone(),
            choices,
            usage: self.usage.clone(),
            service_tier: self.service_tier.clone(),
            system_fingerprint: self.system_fingerprint.clone(),
            extra: self.extra.map.clone(),
        }
    }
}

#[derive(Clone, Copy)]
enum Target {
    Top,
    Choice(usize),
    Message(usize),
}

impl ChoiceAcc {
    fn build(&self) -> Choice {
        let mut calls: Vec<&ToolCallAcc> = self.tool_calls.iter().collect();
        calls.sort_by_key(|t| t.index);
        let tool_calls = (!calls.is_empty()).then(|| {
            calls
                .into_iter()
                .map(|t| ToolCall {
                    index: None,
                    id: t.id.clone(),
                    kind: t.kind.clone().or_else(|| Some("function".to_owned())),
                    function: Some(t.function.build()),
                    extra: t.extra.map.clone(),
                })
                .collect()
        });
        Choice {
            index: self.index,
            message: Message {
                role: self.role.clone().unwrap_or(Role::Assistant),
                content: Some(self.content.clone().map_or(Content::Null, Content::Text)),
                reasoning_content: self.reasoning.clone(),
                refusal: self.refusal.clone(),
                name: None,
                tool_calls,
                function_call: self.function_call.as_ref().map(FunctionAcc::build),
                tool_call_id: None,
                extra: self.message_extra.map.clone(),
            },
            logprobs: self.logprobs.clone(),
            finish_reason: Some(self.finish_reason.clone()),
            extra: self.choice_extra.map.clone(),
        }
    }
}

impl FunctionAcc {
    fn build(&self) -> FunctionCall {
        FunctionCall {
            name: self.name.clone(),
            arguments: Some(self.arguments.clone()),
            extra: self.extra.map.clone(),
        }
    }
}

fn merge_function(
    acc: &mut FunctionAcc,
    name: Option<String>,
    arguments: Option<String>,
    extra: Map<String, Value>,
    room: usize,
) {
    if acc.name.is_none() {
        acc.name = name.filter(|n| !n.is_empty());
    }
    if let Some(a) = arguments {
        push_capped(&mut acc.arguments, &a, room);
    }
    for (k, v) in extra {
        acc.extra.map.insert(k, v);
    }
}

/// Concatenates a streamed nullable text field; a `null` fragment only marks it as present.
fn append_nullable(
    acc: &mut Option<Option<String>>,
    fragment: Option<Option<String>>,
    room: usize,
) {
    match (acc.as_mut(), fragment) {
        (_, None) => {}
        (None, Some(f)) => *acc = Some(f),
        (Some(held), Some(Some(f))) => push_capped(held.get_or_insert_with(String::new), &f, room),
        (Some(_), Some(None)) => {}
    }
}

/// Appends `text`, growing `held` by doubling as `String` does, but never by more than `room`
/// bytes beyond what it holds: a stream near its limit must not hold twice the limit in capacity.
fn push_capped(held: &mut String, text: &str, room: usize) {
    let need = held.len() + text.len();
    if need > held.capacity() {
        let target = held.capacity().saturating_mul(2).max(need).min(need + room);
        held.reserve_exact(target - held.len());
    }
    held.push_str(text);
}

/// Approximate serialised size of a value, without serialising it.
fn json_size(v: &Value) -> usize {
    match v {
        Value::Null | Value::Bool(_) | Value::Number(_) => 8,
        Value::String(s) => s.len() + 2,
        Value::Array(a) => a.iter().map(json_size).sum::<usize>() + 2,
        Value::Object(o) => {
            o.iter()
                .map(|(k, v)| k.len() + 3 + json_size(v))
                .sum::<usize>()
                + 2
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_capacity_stays_within_the_limit() {
        const LIMIT: usize = 10_000;
        let mut fold = Fold::new(LIMIT);
        let piece = "x".repeat(97);
        let chunk = |text: &str| {
            serde_json::json!({"choices": [{"index": 0, "delta": {"content": text}}]}).to_string()
        };
        while fold.push_data(&chunk(&piece)).is_ok() {}
        let content = fold.choices[0].content.as_ref().unwrap();
        assert!(content.len() > LIMIT - 200, "filled up to the limit");
        assert!(
            content.capacity() <= LIMIT,
            "capacity {}",
            content.capacity()
        );
    }

    #[test]
    fn capped_growth_still_doubles_far_from_the_limit() {
        let mut s = String::with_capacity(8);
        s.push_str("12345678");
        push_capped(&mut s, "9", 1 << 20);
        assert_eq!(s.capacity(), 16);
        push_capped(&mut s, &"y".repeat(7), 1 << 20);
        assert_eq!(s.capacity(), 16, "fits");
        push_capped(&mut s, "z", 3);
        assert_eq!(s.capacity(), 20, "17 needed + 3 of room, not 32");
    }
}
