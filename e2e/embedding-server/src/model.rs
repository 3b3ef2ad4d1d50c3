//! all-MiniLM-L6-v2 inference: WordPiece tokenisation, a BERT forward pass on the CPU with candle, and
//! mean pooling over the attention mask – the sentence-transformers pipeline of this model
//! (`modules.json`: Transformer → Pooling(mean) → Normalize).

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use tokenizers::{Tokenizer, TruncationParams};

use crate::bert::{Bert, Config};
use crate::error::Error;

/// The name the APIs report when a request names no model.
pub const MODEL_NAME: &str = "all-MiniLM-L6-v2";
/// Width of every embedding.
pub const DIMENSIONS: usize = 384;
/// Longer inputs are truncated to this many tokens (special tokens included), as sentence-transformers
/// does for this model (`sentence_bert_config.json`: `max_seq_length`). The tokenizer.json shipped with
/// the model says 128, which sentence-transformers overrides.
pub const MAX_TOKENS: usize = 256;
/// Sequences per forward pass. Inputs are sorted by length first, so padding stays small; larger
/// passes gain little on a CPU and hold the other requests back longer.
pub const SEQUENCES_PER_PASS: usize = 32;

/// One input's mean-pooled embedding before normalisation, and how many tokens it used.
#[derive(Debug, Clone, PartialEq)]
pub struct Pooled {
    pub vector: Vec<f32>,
    pub tokens: usize,
}

pub struct Model {
    bert: Bert,
    tokenizer: Tokenizer,
    device: Device,
}

impl Model {
    /// Loads `config.json`, `model.safetensors` and `tokenizer.json` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        let read = |name: &str| {
            std::fs::read(dir.join(name))
                .map_err(|e| Error::Model(format!("cannot read {}: {e}", dir.join(name).display())))
        };
        let config: Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| Error::Model(format!("config.json: {e}")))?;
        let device = Device::Cpu;
        let weights =
            VarBuilder::from_buffered_safetensors(read("model.safetensors")?, DType::F32, &device)
                .map_err(|e| Error::Model(format!("model.safetensors: {e}")))?;
        let bert = Bert::load(weights, &config).map_err(|e| {
            Error::Model(format!("model.safetensors does not fit config.json: {e}"))
        })?;
        let mut tokenizer = Tokenizer::from_bytes(read("tokenizer.json")?)
            .map_err(|e| Error::Model(format!("tokenizer.json: {e}")))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| Error::Model(format!("tokenizer truncation: {e}")))?;
        // Padding is done per forward pass below, to the longest sequence of that pass.
        tokenizer.with_padding(None);
        Ok(Model {
            bert,
            tokenizer,
            device,
        })
    }

    /// Mean-pooled embeddings of `texts`, in order. Inputs are grouped by length into padded forward
    /// passes of at most [`SEQUENCES_PER_PASS`] sequences.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Pooled>, Error> {
        let encodings = texts
            .iter()
            .map(|t| {
                self.tokenizer
                    .encode(*t, true)
                    .map(|e| e.get_ids().to_vec())
                    .map_err(|e| Error::Model(format!("tokenizer: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| encodings[i].len());
        let mut out = vec![None; texts.len()];
        for pass in order.chunks(SEQUENCES_PER_PASS) {
            let ids: Vec<&[u32]> = pass.iter().map(|&i| encodings[i].as_slice()).collect();
            for (&i, pooled) in pass.iter().zip(self.forward(&ids)?) {
                out[i] = Some(pooled);
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// One padded forward pass plus mean pooling.
    fn forward(&self, ids: &[&[u32]]) -> Result<Vec<Pooled>, Error> {
        let width = ids.iter().map(|s| s.len()).max().unwrap_or(0);
        let mut flat_ids = Vec::with_capacity(ids.len() * width);
        let mut flat_mask = Vec::with_capacity(ids.len() * width);
        for seq in ids {
            flat_ids.extend_from_slice(seq);
            flat_ids.resize(flat_ids.len() + width - seq.len(), 0);
            flat_mask.extend(std::iter::repeat_n(1u32, seq.len()));
            flat_mask.resize(flat_mask.len() + width - seq.len(), 0);
        }
        let pooled = self
            .pool(&flat_ids, &flat_mask, (ids.len(), width))
            .map_err(|e| Error::Model(format!("inference: {e}")))?;
        Ok(pooled
            .into_iter()
            .zip(ids)
            .map(|(vector, seq)| Pooled {
                vector,
                tokens: seq.len(),
            })
            .collect())
    }

    fn pool(
        &self,
        ids: &[u32],
        mask: &[u32],
        shape: (usize, usize),
    ) -> candle_core::Result<Vec<Vec<f32>>> {
        let input_ids = Tensor::from_slice(ids, shape, &self.device)?;
        let attention = Tensor::from_slice(mask, shape, &self.device)?;
        let hidden = self.bert.forward(&input_ids, &attention)?;
        // Mean over the real tokens only: padded positions are multiplied by zero and not counted.
        let weights = attention.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&weights)?.sum(1)?;
        let counts = weights.sum(1)?.clamp(1e-9, f32::MAX)?;
        summed.broadcast_div(&counts)?.to_vec2::<f32>()
    }
}

/// Scales `v` to unit length (a zero vector stays zero), as sentence-transformers' Normalize module.
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn normalize_gives_unit_length_and_keeps_zero() {
        let mut v = vec![3.0, 4.0];
        normalize(&mut v);
        assert_eq!(v, vec![0.6, 0.8]);
        let mut zero = vec![0.0; 3];
        normalize(&mut zero);
        assert_eq!(zero, vec![0.0; 3]);
    }
}
