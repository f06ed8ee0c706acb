"""C++ testbench for a Verilated top holding one or more designs (graphs).

Usage of the built executable: `Vtb WORK_DIR N MAX_CYCLES`. For design d it streams the N
images of `WORK_DIR/images<d>.u8` (uint8, N x C x H x W) into the design, one pixel with all
channels per clock, `row_gap` idle cycles between rows, and the next frame once `busy` is low
and every layer has produced its pixels; designs run one after another. Every output pixel
of every layer is written to `WORK_DIR/d<d>_layer<i>.bin` (uint16, native byte order,
image-major raster order, channels innermost). Exit status: 0 ok, 3 cycle budget exceeded
(a hang), 4 protocol error (wrong pixel count or frame-start flag), 2 usage or I/O error; the
reason is printed on stderr.
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
template <typename T>
static inline void set_field(T& v, int lsb, int n, uint32_t x) {
  const uint64_t mask = ((1ull << n) - 1) << lsb;
  v = static_cast<T>((static_cast<uint64_t>(v) & ~mask) | (static_cast<uint64_t>(x) << lsb));
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

static bool flush_image(Layer* layers, int n, long image) {
  bool ok = true;
  for (int i = 0; i < n; ++i) {
    if (layers[i].seen != layers[i].pixels) {
      std::fprintf(stderr, "layer %d produced %ld pixels for image %ld, expected %ld\n", i,
                   layers[i].seen, image, layers[i].pixels);
      ok = false;
    }
    std::fwrite(layers[i].buf.data(), sizeof(uint16_t), layers[i].buf.size(), layers[i].out);
    layers[i].buf.clear();
  }
  return ok;
}
"""


def _design_block(d: int, prefix: str, graph: HwGraph, row_gap: int, model: str) -> str:
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

static bool tick{d}({model}* m) {{
  m->clk = 1;
  m->eval();
{capture}
  m->clk = 0;
  m->eval();
  return ++cycles <= max_cycles;
}}

static int run{d}({model}* m, const char* dir, long n) {{
  const int C = {c}, H = {h}, W = {w}, BITS = {graph.input_bits}, GAP = {row_gap};
  const int NL = {len(graph.layers)};
  const std::string path = std::string(dir) + "/images{d}.u8";
  FILE* in = std::fopen(path.c_str(), "rb");
  if (!in) return fail(2, "cannot open the image file");
  if (!open_outputs(L{d}, NL, dir, {d})) return fail(2, "cannot open an output file");
  std::vector<uint8_t> img(static_cast<size_t>(C) * H * W);
  for (long k = 0; k < n; ++k) {{
    if (std::fread(img.data(), 1, img.size(), in) != img.size())
      return fail(2, "image file is shorter than N images");
    for (int i = 0; i < NL; ++i) L{d}[i].seen = 0;
    for (int r = 0; r < H; ++r) {{
      for (int c = 0; c < W; ++c) {{
        m->{p}in_valid = 1;
        m->{p}in_sof = (r == 0 && c == 0);
        for (int ch = 0; ch < C; ++ch)
          set_field(m->{p}in_data, ch * BITS, BITS, img[(static_cast<size_t>(ch) * H + r) * W + c]);
        if (!tick{d}(m)) return fail(3, "timeout");
      }}
      m->{p}in_valid = 0;
      m->{p}in_sof = 0;
      for (int g = 0; g < GAP; ++g)
        if (!tick{d}(m)) return fail(3, "timeout");
    }}
    for (;;) {{
      bool done = !m->{p}busy;
      for (int i = 0; i < NL; ++i) done = done && L{d}[i].seen >= L{d}[i].pixels;
      if (done) break;
      if (!tick{d}(m)) return fail(3, "timeout: the design stopped producing pixels");
    }}
    for (int g = 0; g < GAP + 2; ++g)
      if (!tick{d}(m)) return fail(3, "timeout");
    if (!flush_image(L{d}, NL, k)) ++protocol_errors;
  }}
  for (int i = 0; i < NL; ++i) std::fclose(L{d}[i].out);
  std::fclose(in);
  return 0;
}}
"""


def cpp_testbench(designs: list[tuple[str, HwGraph, int]], top: str) -> str:
    """C++ testbench for Verilated module `top` holding designs (port prefix, graph, row gap)."""
    model = f"V{top}"
    blocks = "".join(_design_block(d, prefix, graph, gap, model)
                     for d, (prefix, graph, gap) in enumerate(designs))
    inputs = "\n".join(f"  model.{prefix}in_valid = 0;\n  model.{prefix}in_sof = 0;"
                       for prefix, _, _ in designs)
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
