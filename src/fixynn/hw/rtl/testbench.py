"""C++ testbench for a Verilated top holding one or more designs (graphs).

Usage of the built executable: `Vtb WORK_DIR N MAX_CYCLES`. For design d it streams the N
images of `WORK_DIR/images<d>.u16` (uint16, native byte order, N x C x H x W) into the
design as `rtl.stimulus` schedules them (`WORK_DIR/idle<d>.u8`: idle cycles before each
pixel), the way a user's system may drive the documented protocol: one pixel with all
channels per valid cycle, random idle cycles inside rows, the row gap between rows, each
frame as soon as `busy` is low after the previous one, and pseudo-random garbage on
`in_data` and `in_sof` whenever `in_valid` is low. Designs run one after another. Every
output pixel of every layer is written to `WORK_DIR/d<d>_layer<i>.bin` (uint16, native
byte order, image-major raster order, channels innermost). A frame must have left every
layer when `busy` falls, and nothing may come out after the last one. Exit status: 0 ok,
3 cycle budget exceeded (a hang), 4 protocol error (wrong pixel count, frame-start flag, or
output after `busy` fell), 2 usage or I/O error; the reason is printed on stderr.
"""

from __future__ import annotations

from fixynn.hw.ir import HwGraph

_PRELUDE = r"""
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
#include "verilated.h"

// Bit fields of Verilator port values: plain integers up to 64 bits, VlWide above.
template <typename T>
static inline uint32_t get_field(const T& v, int lsb, int n) {
  return static_cast<uint32_t>((static_cast<uint64_t>(v) >> lsb) & ((1ull << n) - 1));
}
template <std::size_t N>
static inline uint32_t get_field(const VlWide<N>& v, int lsb, int n) {
  const int w = lsb >> 5, s = lsb & 31;
  uint64_t x = v[w];
  if (w + 1 < static_cast<int>(N)) x |= static_cast<uint64_t>(v[w + 1]) << 32;
  return static_cast<uint32_t>((x >> s) & ((1ull << n) - 1));
}
// Sets bits [lsb, lsb + n) to the low n bits of x (Verilator wants the bits above a port's
// width clean).
template <typename T>
static inline void set_field(T& v, int lsb, int n, uint32_t x) {
  const uint64_t mask = ((1ull << n) - 1) << lsb;
  const uint64_t bits = (static_cast<uint64_t>(x) << lsb) & mask;
  v = static_cast<T>((static_cast<uint64_t>(v) & ~mask) | bits);
}
template <std::size_t N>
static inline void set_field(VlWide<N>& v, int lsb, int n, uint32_t x) {
  for (int b = 0; b < n; ++b) {
    const int i = lsb + b;
    const uint32_t bit = 1u << (i & 31);
    if ((x >> b) & 1u) v[i >> 5] |= bit; else v[i >> 5] &= ~bit;
  }
}

struct Layer {
  int channels, bits;
  long pixels;  // output pixels per image
  long seen;    // output pixels of the current image
  std::vector<uint16_t> buf;
  FILE* out;
};

static long long cycles = 0, max_cycles = 0;
static int protocol_errors = 0;

// Garbage for the input port while in_valid is low (xorshift64: deterministic runs).
static uint64_t garbage_state = 0x9e3779b97f4a7c15ull;
static uint32_t garbage() {
  garbage_state ^= garbage_state << 13;
  garbage_state ^= garbage_state >> 7;
  garbage_state ^= garbage_state << 17;
  return static_cast<uint32_t>(garbage_state >> 16);
}

template <typename T>
static void capture(Layer& l, const T& data, bool sof) {
  if (sof != (l.seen == 0) && protocol_errors++ < 10)
    std::fprintf(stderr, "frame-start flag wrong at output pixel %ld\n", l.seen);
  for (int ch = 0; ch < l.channels; ++ch)
    l.buf.push_back(static_cast<uint16_t>(get_field(data, ch * l.bits, l.bits)));
  ++l.seen;
}

static int fail(int code, const char* what) {
  std::fprintf(stderr, "%s after %lld cycles\n", what, cycles);
  return code;
}

static bool open_outputs(Layer* layers, int n, const char* dir, int design) {
  for (int i = 0; i < n; ++i) {
    const std::string path = std::string(dir) + "/d" + std::to_string(design) + "_layer" +
                             std::to_string(i) + ".bin";
    layers[i].out = std::fopen(path.c_str(), "wb");
    if (!layers[i].out) return false;
  }
  return true;
}

// Write the pixels of one image once busy has fallen: by then all of them must be out.
static bool flush_image(Layer* layers, int n, long image) {
  bool ok = true;
  for (int i = 0; i < n; ++i) {
    if (layers[i].seen != layers[i].pixels) {
      std::fprintf(stderr, "layer %d produced %ld pixels for image %ld before busy fell, "
                   "expected %ld\n", i, layers[i].seen, image, layers[i].pixels);
      ok = false;
    }
    std::fwrite(layers[i].buf.data(), sizeof(uint16_t), layers[i].buf.size(), layers[i].out);
    layers[i].buf.clear();
    layers[i].seen = 0;
  }
  return ok;
}
"""


def _design_block(d: int, prefix: str, graph: HwGraph, model: str) -> str:
    """Functions streaming images into design `d`, whose ports start with `prefix`."""
    layers = ",\n    ".join(
        f"{{{layer.out_channels}, {layer.out_bits}, {oh * ow}L, 0, {{}}, nullptr}}"
        for layer, (_, oh, ow) in zip(graph.layers, graph.shapes(), strict=True)
    )
    capture = "\n".join(
        f"  if (m->{prefix}o{i}_valid) capture(L{d}[{i}], m->{prefix}o{i}_data, "
        f"m->{prefix}o{i}_sof);"
        for i in range(len(graph.layers))
    )
    c, h, w = graph.input_channels, graph.input_height, graph.input_width
    p = prefix
    return f"""
static Layer L{d}[] = {{
    {layers}
}};
static const int C{d} = {c}, BITS{d} = {graph.input_bits};

static bool tick{d}({model}* m) {{
  m->clk = 1;
  m->eval();
{capture}
  m->clk = 0;
  m->eval();
  return ++cycles <= max_cycles;
}}

static bool idle{d}({model}* m) {{
  m->{p}in_valid = 0;
  m->{p}in_sof = garbage() & 1;
  for (int ch = 0; ch < C{d}; ++ch) set_field(m->{p}in_data, ch * BITS{d}, BITS{d}, garbage());
  return tick{d}(m);
}}

// Idle cycles until busy is low: the frame in flight has left every layer.
static bool drain{d}({model}* m) {{
  while (m->{p}busy)
    if (!idle{d}(m)) return false;
  return true;
}}

static int run{d}({model}* m, const char* dir, long n) {{
  const int H = {h}, W = {w}, NL = {len(graph.layers)};
  FILE* in = std::fopen((std::string(dir) + "/images{d}.u16").c_str(), "rb");
  FILE* gaps = std::fopen((std::string(dir) + "/idle{d}.u8").c_str(), "rb");
  if (!in || !gaps) return fail(2, "cannot open the image or idle-cycle file");
  if (!open_outputs(L{d}, NL, dir, {d})) return fail(2, "cannot open an output file");
  std::vector<uint16_t> img(static_cast<size_t>(C{d}) * H * W);
  std::vector<uint8_t> idle(static_cast<size_t>(H) * W);
  for (long k = 0; k < n; ++k) {{
    if (std::fread(img.data(), sizeof(uint16_t), img.size(), in) != img.size() ||
        std::fread(idle.data(), 1, idle.size(), gaps) != idle.size())
      return fail(2, "image or idle-cycle file is shorter than N images");
    for (int p = 0; p < H * W; ++p) {{
      for (int g = 0; g < idle[p]; ++g)
        if (!idle{d}(m)) return fail(3, "timeout");
      m->{p}in_valid = 1;
      m->{p}in_sof = p == 0;
      for (int ch = 0; ch < C{d}; ++ch)
        set_field(m->{p}in_data, ch * BITS{d}, BITS{d}, img[static_cast<size_t>(ch) * H * W + p]);
      if (!tick{d}(m)) return fail(3, "timeout");
    }}
    if (!drain{d}(m)) return fail(3, "timeout: busy stayed high");
    if (!flush_image(L{d}, NL, k)) ++protocol_errors;
  }}
  // Nothing may come out once busy has fallen after the last frame (watched for longer
  // than any layer's latency: a few rows).
  for (int g = 0; g < 4 * (H + W) + 64; ++g)
    if (!idle{d}(m)) return fail(3, "timeout");
  for (int i = 0; i < NL; ++i) {{
    if (L{d}[i].seen && protocol_errors++ < 10)
      std::fprintf(stderr, "layer %d produced %ld pixels after busy fell\\n", i, L{d}[i].seen);
    std::fclose(L{d}[i].out);
  }}
  std::fclose(in);
  std::fclose(gaps);
  return 0;
}}
"""


def cpp_testbench(designs: list[tuple[str, HwGraph]], top: str) -> str:
    """C++ testbench for Verilated module `top` holding designs (port prefix, graph)."""
    model = f"V{top}"
    blocks = "".join(_design_block(d, prefix, graph, model)
                     for d, (prefix, graph) in enumerate(designs))
    inputs = "\n".join(f"  model.{prefix}in_valid = 0;\n  model.{prefix}in_sof = 0;"
                       for prefix, _ in designs)
    runs = "\n".join(f"  if (int rc = run{d}(&model, argv[1], n)) return rc;"
                     for d in range(len(designs)))
    first = "tick0(&model)" if designs else "true"
    return _PRELUDE + f'#include "{model}.h"\n' + blocks + f"""
int main(int argc, char** argv) {{
  if (argc != 4) {{
    std::fprintf(stderr, "usage: %s WORK_DIR N MAX_CYCLES\\n", argv[0]);
    return 2;
  }}
  const long n = std::atol(argv[2]);
  max_cycles = std::atoll(argv[3]);
  VerilatedContext context;
  context.commandArgs(1, argv);
  {model} model(&context);
  model.clk = 0;
  model.rst = 1;
{inputs}
  model.eval();
  for (int i = 0; i < 2; ++i) (void){first};
  model.rst = 0;
{runs}
  model.final();
  std::printf("cycles %lld\\n", cycles);
  return protocol_errors ? fail(4, "protocol errors") : 0;
}}
"""
