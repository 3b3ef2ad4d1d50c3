//! A BERT encoder (the architecture of all-MiniLM-L6-v2: post-norm transformer layers, absolute
//! position embeddings, exact-erf GELU) on candle-nn. Written here rather than taken from
//! candle-transformers, whose ~200 bundled model families take longer to compile optimised than
//! the rest of this workspace together; this model needs only these ~100 lines.
//!
//! Weight names are those of a Hugging Face `BertModel` checkpoint without a prefix
//! (`embeddings.word_embeddings.weight`, `encoder.layer.0.attention.self.query.weight`, ...).

use candle_core::{DType, Module, Result, Tensor};
use candle_nn::ops::softmax_last_dim;
use candle_nn::{embedding, layer_norm, linear, Embedding, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;

/// The fields of `config.json` the encoder needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    pub hidden_act: String,
}

pub struct Bert {
    words: Embedding,
    positions: Embedding,
    token_types: Embedding,
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
    max_positions: usize,
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    out: Linear,
    out_norm: LayerNorm,
    heads: usize,
}

impl Bert {
    pub fn load(vb: VarBuilder, c: &Config) -> Result<Self> {
        if c.hidden_act != "gelu" {
            candle_core::bail!("hidden_act {:?} is not supported (gelu)", c.hidden_act);
        }
        if c.num_attention_heads == 0 || !c.hidden_size.is_multiple_of(c.num_attention_heads) {
            candle_core::bail!("hidden_size must be a multiple of num_attention_heads");
        }
        let e = vb.pp("embeddings");
        let layers = (0..c.num_hidden_layers)
            .map(|i| Layer::load(vb.pp(format!("encoder.layer.{i}")), c))
            .collect::<Result<_>>()?;
        Ok(Bert {
            words: embedding(c.vocab_size, c.hidden_size, e.pp("word_embeddings"))?,
            positions: embedding(
                c.max_position_embeddings,
                c.hidden_size,
                e.pp("position_embeddings"),
            )?,
            token_types: embedding(
                c.type_vocab_size,
                c.hidden_size,
                e.pp("token_type_embeddings"),
            )?,
            embeddings_norm: layer_norm(c.hidden_size, c.layer_norm_eps, e.pp("LayerNorm"))?,
            layers,
            max_positions: c.max_position_embeddings,
        })
    }

    /// Last hidden states `(batch, len, hidden)` for token ids `(batch, len)` (u32) and an attention
    /// mask of the same shape (1 = token, 0 = padding). Every token has type 0 (single sentences).
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (_, len) = ids.dims2()?;
        if len > self.max_positions {
            candle_core::bail!("{len} tokens exceed {} positions", self.max_positions);
        }
        let device = ids.device();
        let positions = Tensor::arange(0u32, len as u32, device)?;
        let token_type = Tensor::zeros(1, DType::U32, device)?;
        let x = self
            .words
            .forward(ids)?
            .broadcast_add(&self.positions.forward(&positions)?)?
            .broadcast_add(&self.token_types.forward(&token_type)?)?;
        let mut x = self.embeddings_norm.forward(&x)?;
        // Padding gets the lowest float added to its attention scores, as in transformers, so
        // softmax gives it zero weight: (batch, 1, 1, len), 0 for tokens and f32::MIN for padding.
        let bias = mask
            .to_dtype(DType::F32)?
            .affine(f32::MAX as f64, f32::MIN as f64)?
            .unsqueeze(1)?
            .unsqueeze(1)?;
        for layer in &self.layers {
            x = layer.forward(&x, &bias)?;
        }
        Ok(x)
    }
}

impl Layer {
    fn load(vb: VarBuilder, c: &Config) -> Result<Self> {
        let (h, eps) = (c.hidden_size, c.layer_norm_eps);
        let attention = vb.pp("attention");
        Ok(Layer {
            query: linear(h, h, attention.pp("self.query"))?,
            key: linear(h, h, attention.pp("self.key"))?,
            value: linear(h, h, attention.pp("self.value"))?,
            attention_out: linear(h, h, attention.pp("output.dense"))?,
            attention_norm: layer_norm(h, eps, attention.pp("output.LayerNorm"))?,
            intermediate: linear(h, c.intermediate_size, vb.pp("intermediate.dense"))?,
            out: linear(c.intermediate_size, h, vb.pp("output.dense"))?,
            out_norm: layer_norm(h, eps, vb.pp("output.LayerNorm"))?,
            heads: c.num_attention_heads,
        })
    }

    fn forward(&self, x: &Tensor, bias: &Tensor) -> Result<Tensor> {
        let (batch, len, hidden) = x.dims3()?;
        let head_dim = hidden / self.heads;
        // (batch, len, hidden) → (batch, heads, len, head_dim)
        let heads = |t: Tensor| {
            t.reshape((batch, len, self.heads, head_dim))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = heads(self.query.forward(x)?)?;
        let k = heads(self.key.forward(x)?)?;
        let v = heads(self.value.forward(x)?)?;
        let scores = (q.matmul(&k.t()?.contiguous()?)? / (head_dim as f64).sqrt())?;
        let weights = softmax_last_dim(&scores.broadcast_add(bias)?)?;
        let context = weights
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((batch, len, hidden))?;
        let x = self
            .attention_norm
            .forward(&(self.attention_out.forward(&context)? + x)?)?;
        let inner = self.intermediate.forward(&x)?.gelu_erf()?;
        self.out_norm.forward(&(self.out.forward(&inner)? + x)?)
    }
}
