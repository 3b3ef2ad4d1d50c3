//! Partition safety: the same question (word for word, and paraphrased) asked after a different
//! conversation, system prompt, model or by another consumer must never be served an answer stored
//! in the first context, however low the threshold. Each scenario stores questions in context A and
//! asks them at the permissive threshold in context A (the control: hits expected, so the scenario
//! can see hits at all) and in context B (every hit is a cross-partition hit).

use crate::data::Pair;
use crate::harness::{Cache, Chat, Outcome, Services, Settings};
use crate::pairs::{settings, PERMISSIVE_THRESHOLD};

const SYSTEM: &str = "You are a helpful assistant.";

pub struct Scenario {
    pub name: &'static str,
    pub context_a: &'static str,
    pub context_b: &'static str,
    a: fn(&str) -> Chat,
    b: fn(&str) -> Chat,
}

fn chat(consumer: &str, model: &str, messages: &[(&str, &str)]) -> Chat {
    Chat {
        consumer: consumer.to_string(),
        model: model.to_string(),
        messages: messages
            .iter()
            .map(|(r, c)| (r.to_string(), c.to_string()))
            .collect(),
    }
}

pub fn all() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "consumer",
            context_a: "consumer tenant-a",
            context_b: "consumer tenant-b",
            a: |q| chat("tenant-a", "gpt-4o", &[("system", SYSTEM), ("user", q)]),
            b: |q| chat("tenant-b", "gpt-4o", &[("system", SYSTEM), ("user", q)]),
        },
        Scenario {
            name: "system prompt",
            context_a: "helpful assistant",
            context_b: "pirate persona",
            a: |q| chat("tenant", "gpt-4o", &[("system", SYSTEM), ("user", q)]),
            b: |q| {
                let pirate = "You are a pirate. Answer everything in pirate speak.";
                chat("tenant", "gpt-4o", &[("system", pirate), ("user", q)])
            },
        },
        Scenario {
            name: "earlier turns",
            context_a: "after a turn about Paris",
            context_b: "after a turn about Tokyo",
            a: |q| {
                let turns = [
                    ("user", "I am planning a trip to Paris next month."),
                    ("assistant", "Great choice! How can I help with Paris?"),
                    ("user", q),
                ];
                chat("tenant", "gpt-4o", &turns)
            },
            b: |q| {
                let turns = [
                    ("user", "I am planning a trip to Tokyo next month."),
                    ("assistant", "Great choice! How can I help with Tokyo?"),
                    ("user", q),
                ];
                chat("tenant", "gpt-4o", &turns)
            },
        },
        Scenario {
            name: "first turn vs follow-up",
            context_a: "first question",
            context_b: "after a greeting turn",
            a: |q| chat("tenant", "gpt-4o", &[("system", SYSTEM), ("user", q)]),
            b: |q| {
                let turns = [
                    ("system", SYSTEM),
                    ("user", "Hi!"),
                    ("assistant", "Hello! What would you like to know?"),
                    ("user", q),
                ];
                chat("tenant", "gpt-4o", &turns)
            },
        },
        Scenario {
            name: "model",
            context_a: "gpt-4o",
            context_b: "gpt-4o-mini",
            a: |q| chat("tenant", "gpt-4o", &[("system", SYSTEM), ("user", q)]),
            b: |q| chat("tenant", "gpt-4o-mini", &[("system", SYSTEM), ("user", q)]),
        },
    ]
}

#[derive(Debug, Clone)]
pub struct ScenarioResult {
    pub name: &'static str,
    pub context_a: &'static str,
    pub context_b: &'static str,
    /// Lookups in each context (each pair's question word for word and its paraphrase).
    pub asks: usize,
    /// Hits in context A: the control.
    pub same_context_hits: usize,
    /// Hits in context B: must be zero.
    pub cross_partition_hits: usize,
}

pub fn run(
    services: &Services,
    base: &Settings,
    pairs: &[Pair],
) -> Result<Vec<ScenarioResult>, String> {
    all()
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let collection = format!("scenario-{i}");
            let mut fill = Cache::new(&settings(base, &collection, 1.0, false), services)?;
            for (n, p) in pairs.iter().enumerate() {
                fill.store(&(s.a)(&p.cached), &n.to_string())?;
            }
            let mut lookup = Cache::new(
                &settings(base, &collection, PERMISSIVE_THRESHOLD, false),
                services,
            )?;
            let (mut same, mut cross) = (0, 0);
            for p in pairs {
                for q in [&p.cached, &p.asked] {
                    same += usize::from(matches!(lookup.ask(&(s.a)(q))?, Outcome::Hit { .. }));
                    cross += usize::from(matches!(lookup.ask(&(s.b)(q))?, Outcome::Hit { .. }));
                }
            }
            Ok(ScenarioResult {
                name: s.name,
                context_a: s.context_a,
                context_b: s.context_b,
                asks: 2 * pairs.len(),
                same_context_hits: same,
                cross_partition_hits: cross,
            })
        })
        .collect()
}
