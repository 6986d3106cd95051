"""Independent numpy (float64) reader + forward pass of a Hugging Face Llama/Mistral/Qwen2 directory.

Reads config.json and model.safetensors (or the shards of model.safetensors.index.json) with its
own safetensors parser, follows the transformers modeling code, and prints the logits of the ids
given on stdin as JSON: {"ids": [[...]]} -> {"logits": [[[...]]]}.
"""
import json
import os
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = data[start:end]
        if info["dtype"] == "F32":
            array = np.frombuffer(raw, dtype="<f4")
        elif info["dtype"] == "F16":
            array = np.frombuffer(raw, dtype="<f2")
        elif info["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            array = bits.view(np.float32)
        else:
            raise ValueError(info["dtype"])
        tensors[name] = array.astype(np.float64).reshape(info["shape"])
    return tensors


def load(directory):
    config = json.load(open(os.path.join(directory, "config.json")))
    index = os.path.join(directory, "model.safetensors.index.json")
    tensors = {}
    if os.path.exists(index):
        for shard in sorted(set(json.load(open(index))["weight_map"].values())):
            tensors.update(read_safetensors(os.path.join(directory, shard)))
    else:
        tensors = read_safetensors(os.path.join(directory, "model.safetensors"))
    return config, tensors


def rms_norm(x, weight, eps):
    return weight * (x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def forward(config, w, ids):
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    hidden = config["hidden_size"]
    head_dim = config.get("head_dim") or hidden // heads
    eps = config["rms_norm_eps"]
    theta = config.get("rope_theta", 10000.0)
    window = None
    if config["model_type"] == "mistral":
        window = config.get("sliding_window")
    ids = np.array(ids)
    batch, time = ids.shape
    x = w["model.embed_tokens.weight"][ids]
    inv_freq = 1.0 / theta ** (np.arange(0, head_dim, 2) / head_dim)
    angles = np.arange(time)[:, None] * inv_freq[None, :]
    emb = np.concatenate([angles, angles], axis=-1)
    cos, sin = np.cos(emb), np.sin(emb)
    causal = np.tril(np.ones((time, time), dtype=bool))
    if window is not None:
        causal &= (np.arange(time)[:, None] - np.arange(time)[None, :]) < window

    def proj(name, h):
        y = h @ w[name + ".weight"].T
        if name + ".bias" in w:
            y = y + w[name + ".bias"]
        return y

    for layer in range(config["num_hidden_layers"]):
        p = f"model.layers.{layer}"
        h = rms_norm(x, w[p + ".input_layernorm.weight"], eps)
        q = proj(p + ".self_attn.q_proj", h).reshape(batch, time, heads, head_dim).transpose(0, 2, 1, 3)
        k = proj(p + ".self_attn.k_proj", h).reshape(batch, time, kv_heads, head_dim).transpose(0, 2, 1, 3)
        v = proj(p + ".self_attn.v_proj", h).reshape(batch, time, kv_heads, head_dim).transpose(0, 2, 1, 3)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = np.repeat(k, heads // kv_heads, axis=1)
        v = np.repeat(v, heads // kv_heads, axis=1)
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim)
        scores = np.where(causal, scores, -np.inf)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        probs = scores / scores.sum(-1, keepdims=True)
        attended = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, time, heads * head_dim)
        x = x + proj(p + ".self_attn.o_proj", attended)
        h = rms_norm(x, w[p + ".post_attention_layernorm.weight"], eps)
        gate = proj(p + ".mlp.gate_proj", h)
        up = proj(p + ".mlp.up_proj", h)
        x = x + proj(p + ".mlp.down_proj", gate / (1 + np.exp(-gate)) * up)
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if config.get("tie_word_embeddings") else w["lm_head.weight"]
    return x @ head.T


if __name__ == "__main__":
    config, weights = load(sys.argv[1])
    request = json.load(sys.stdin)
    print(json.dumps({"logits": forward(config, weights, request["ids"]).tolist()}))
