#!/usr/bin/env python3
"""hf_to_gguf_gpt2.py DIR OUT.gguf [f32|f16|q8_0]: a GGUF file of a GPT-2 folder
(config.json + model.safetensors in F32, as `gpt2-weights init` writes), for
llama.cpp, so that both programs decode the same weights.

llama.cpp's own converter needs torch and a real tokenizer; this one needs
numpy and the `gguf` package from PyPI (pip install gguf). The vocabulary is
a placeholder of the right size (256 byte tokens, then <tN>, then
<|endoftext|>): llama-batched-bench feeds token ids and never tokenizes text,
so the step's cost does not depend on it. The LM head is tied (no
output.weight): llama.cpp then reads token_embd, as gpt2-bench does.
f16 and q8_0 (ggml's int8 in blocks of 32 along K, an f16 scale per block:
1.0625 bytes per weight) store the four layer matrices and token_embd so,
the rest in f32."""
import json
import os
import struct
import sys

try:
    import numpy as np
    import gguf
except ImportError as e:
    sys.exit(f"hf_to_gguf_gpt2: {e.name} is missing: pip install numpy gguf")

TMP = None  # the file being written, removed if the conversion fails


def main():
    if len(sys.argv) not in (3, 4) or sys.argv[-1] in ("-h", "--help"):
        sys.exit("usage: hf_to_gguf_gpt2.py DIR OUT.gguf [f32|f16|q8_0]")
    src, out = sys.argv[1], sys.argv[2]
    ftype = sys.argv[3] if len(sys.argv) == 4 else "f32"
    if ftype not in ("f32", "f16", "q8_0"):
        sys.exit(f"hf_to_gguf_gpt2: dtype '{ftype}' is not f32, f16 or q8_0")
    try:
        with open(f"{src}/config.json") as f:
            cfg = json.load(f)
        with open(f"{src}/model.safetensors", "rb") as f:
            n = struct.unpack("<Q", f.read(8))[0]
            hdr = json.loads(f.read(n))
    except (OSError, ValueError, struct.error) as e:
        sys.exit(f"hf_to_gguf_gpt2: cannot read {src} as a GPT-2 folder ({e}): give a gpt2-weights init folder")
    base = 8 + n
    mm = np.memmap(f"{src}/model.safetensors", dtype=np.uint8, mode="r")

    def tensor(name):  # HF layout: Conv1D weights are (in, out)
        if name not in hdr:
            sys.exit(f"hf_to_gguf_gpt2: {src} has no tensor {name}: give a GPT-2 folder without the transformer. prefix")
        e = hdr[name]
        if e["dtype"] != "F32":
            sys.exit(f"hf_to_gguf_gpt2: {name} is {e['dtype']}, not F32: convert the f32 folder")
        a, b = e["data_offsets"]
        if base + b > len(mm):
            sys.exit(f"hf_to_gguf_gpt2: {src}/model.safetensors ends inside {name}: the file is truncated")
        return np.frombuffer(mm[base + a:base + b], dtype=np.float32).reshape(e["shape"])

    L, d, V = cfg["n_layer"], cfg["n_embd"], cfg["vocab_size"]
    global TMP
    TMP = f"{out}.tmp{os.getpid()}"  # written whole, then renamed: no half-written OUT
    w = gguf.GGUFWriter(TMP, "gpt2")
    w.add_block_count(L)
    w.add_context_length(cfg.get("n_positions", cfg.get("n_ctx")))
    w.add_embedding_length(d)
    w.add_feed_forward_length(4 * d)
    w.add_head_count(cfg["n_head"])
    w.add_layer_norm_eps(cfg["layer_norm_epsilon"])
    w.add_file_type({"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                     "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[ftype])
    # GPT-2's byte-to-unicode table, so that the 256 byte tokens exist
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + len(cs) - 188)
    toks = [chr(c) for c in cs] + [f"<t{i}>" for i in range(V - 257)] + ["<|endoftext|>"]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(toks)
    w.add_token_types([1] * (V - 1) + [3])
    w.add_token_merges([toks[0] + " " + toks[1]])
    w.add_bos_token_id(V - 1)
    w.add_eos_token_id(V - 1)

    def add(name, a, matrix=False):
        a = np.ascontiguousarray(a, dtype=np.float32)
        if matrix and ftype == "q8_0":
            q8 = gguf.GGMLQuantizationType.Q8_0
            w.add_tensor(name, gguf.quants.quantize(a, q8), raw_dtype=q8)  # bytes (rows, K / 32 * 34)
        else:
            w.add_tensor(name, a.astype(np.float16 if (matrix and ftype == "f16") else np.float32))

    add("token_embd.weight", tensor("wte.weight"), True)  # (V, d)
    add("position_embd.weight", tensor("wpe.weight"))  # (n_ctx, d)
    for i in range(L):
        p, q = f"h.{i}.", f"blk.{i}."
        add(q + "attn_norm.weight", tensor(p + "ln_1.weight"))
        add(q + "attn_norm.bias", tensor(p + "ln_1.bias"))
        add(q + "attn_qkv.weight", tensor(p + "attn.c_attn.weight").T, True)  # (3d, d)
        add(q + "attn_qkv.bias", tensor(p + "attn.c_attn.bias"))
        add(q + "attn_output.weight", tensor(p + "attn.c_proj.weight").T, True)  # (d, d)
        add(q + "attn_output.bias", tensor(p + "attn.c_proj.bias"))
        add(q + "ffn_norm.weight", tensor(p + "ln_2.weight"))
        add(q + "ffn_norm.bias", tensor(p + "ln_2.bias"))
        add(q + "ffn_up.weight", tensor(p + "mlp.c_fc.weight").T, True)  # (4d, d)
        add(q + "ffn_up.bias", tensor(p + "mlp.c_fc.bias"))
        add(q + "ffn_down.weight", tensor(p + "mlp.c_proj.weight").T, True)  # (d, 4d)
        add(q + "ffn_down.bias", tensor(p + "mlp.c_proj.bias"))
    add("output_norm.weight", tensor("ln_f.weight"))
    add("output_norm.bias", tensor("ln_f.bias"))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(TMP, out)
    print(f"wrote {out} ({ftype})")


if __name__ == "__main__":
    try:
        main()
    except BaseException:  # a failure or Ctrl-C leaves no partial file
        if TMP and os.path.exists(TMP):
            os.remove(TMP)
        raise
