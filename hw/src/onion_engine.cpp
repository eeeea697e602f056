// HLS top function `onion_engine`: one call runs one op (s_axilite control, four m_axi ports).
// The signature and interface pragmas below are generated from hw/spec/engine_spec.json so the
// register offsets the board host writes are the ones declared there.
#include "onion/engine.h"

// ---- BEGIN GENERATED INTERFACE (python -m hw.gen.spec; do not edit) ----
void onion_engine(word_t *wts,
                  word_t *act,
                  word_t *grd,
                  int32_t *aux,
                  uint32_t opcode,
                  uint32_t flags,
                  uint32_t n_tokens,
                  uint32_t n_keep,
                  uint32_t dim,
                  uint32_t heads,
                  uint32_t mlp_dim,
                  uint32_t in_dim,
                  uint32_t out_dim,
                  uint32_t x_off,
                  uint32_t y_off,
                  uint32_t w_off,
                  uint32_t save_off,
                  uint32_t attn_off,
                  uint32_t keys_off,
                  uint32_t keep_off,
                  uint32_t gy_off,
                  uint32_t gx_off,
                  uint32_t gw_off,
                  uint32_t gs_off,
                  uint32_t fracs_off,
                  uint32_t stats_off,
                  uint32_t gacc_off,
                  uint32_t &status,
                  uint32_t &macs_lo,
                  uint32_t &macs_hi,
                  uint32_t &cycles_lo,
                  uint32_t &cycles_hi,
                  uint32_t &saturations,
                  uint32_t &ew_cycles_lo,
                  uint32_t &ew_cycles_hi,
                  uint32_t &min_axi_bytes_lo,
                  uint32_t &min_axi_bytes_hi,
                  uint32_t &wts_rd_bytes_lo,
                  uint32_t &wts_rd_bytes_hi,
                  uint32_t &wts_wr_bytes_lo,
                  uint32_t &wts_wr_bytes_hi,
                  uint32_t &wts_rd_bursts,
                  uint32_t &wts_wr_bursts,
                  uint32_t &act_rd_bytes_lo,
                  uint32_t &act_rd_bytes_hi,
                  uint32_t &act_wr_bytes_lo,
                  uint32_t &act_wr_bytes_hi,
                  uint32_t &act_rd_bursts,
                  uint32_t &act_wr_bursts,
                  uint32_t &grd_rd_bytes_lo,
                  uint32_t &grd_rd_bytes_hi,
                  uint32_t &grd_wr_bytes_lo,
                  uint32_t &grd_wr_bytes_hi,
                  uint32_t &grd_rd_bursts,
                  uint32_t &grd_wr_bursts,
                  uint32_t &aux_rd_bytes_lo,
                  uint32_t &aux_rd_bytes_hi,
                  uint32_t &aux_wr_bytes_lo,
                  uint32_t &aux_wr_bytes_hi,
                  uint32_t &aux_rd_bursts,
                  uint32_t &aux_wr_bursts) {
#pragma HLS INTERFACE m_axi port=wts offset=slave bundle=gmem_wts depth=1048576 max_widen_bitwidth=128 max_read_burst_length=256 max_write_burst_length=256
#pragma HLS INTERFACE s_axilite port=wts offset=0x10 bundle=control
#pragma HLS INTERFACE m_axi port=act offset=slave bundle=gmem_act depth=1048576 max_widen_bitwidth=128 max_read_burst_length=256 max_write_burst_length=256
#pragma HLS INTERFACE s_axilite port=act offset=0x1c bundle=control
#pragma HLS INTERFACE m_axi port=grd offset=slave bundle=gmem_grd depth=1048576 max_widen_bitwidth=128 max_read_burst_length=256 max_write_burst_length=256
#pragma HLS INTERFACE s_axilite port=grd offset=0x28 bundle=control
#pragma HLS INTERFACE m_axi port=aux offset=slave bundle=gmem_aux depth=1048576 max_widen_bitwidth=128 max_read_burst_length=256 max_write_burst_length=256
#pragma HLS INTERFACE s_axilite port=aux offset=0x34 bundle=control
#pragma HLS INTERFACE s_axilite port=opcode offset=0x40 bundle=control
#pragma HLS INTERFACE s_axilite port=flags offset=0x48 bundle=control
#pragma HLS INTERFACE s_axilite port=n_tokens offset=0x50 bundle=control
#pragma HLS INTERFACE s_axilite port=n_keep offset=0x58 bundle=control
#pragma HLS INTERFACE s_axilite port=dim offset=0x60 bundle=control
#pragma HLS INTERFACE s_axilite port=heads offset=0x68 bundle=control
#pragma HLS INTERFACE s_axilite port=mlp_dim offset=0x70 bundle=control
#pragma HLS INTERFACE s_axilite port=in_dim offset=0x78 bundle=control
#pragma HLS INTERFACE s_axilite port=out_dim offset=0x80 bundle=control
#pragma HLS INTERFACE s_axilite port=x_off offset=0x88 bundle=control
#pragma HLS INTERFACE s_axilite port=y_off offset=0x90 bundle=control
#pragma HLS INTERFACE s_axilite port=w_off offset=0x98 bundle=control
#pragma HLS INTERFACE s_axilite port=save_off offset=0xa0 bundle=control
#pragma HLS INTERFACE s_axilite port=attn_off offset=0xa8 bundle=control
#pragma HLS INTERFACE s_axilite port=keys_off offset=0xb0 bundle=control
#pragma HLS INTERFACE s_axilite port=keep_off offset=0xb8 bundle=control
#pragma HLS INTERFACE s_axilite port=gy_off offset=0xc0 bundle=control
#pragma HLS INTERFACE s_axilite port=gx_off offset=0xc8 bundle=control
#pragma HLS INTERFACE s_axilite port=gw_off offset=0xd0 bundle=control
#pragma HLS INTERFACE s_axilite port=gs_off offset=0xd8 bundle=control
#pragma HLS INTERFACE s_axilite port=fracs_off offset=0xe0 bundle=control
#pragma HLS INTERFACE s_axilite port=stats_off offset=0xe8 bundle=control
#pragma HLS INTERFACE s_axilite port=gacc_off offset=0x200 bundle=control
#pragma HLS INTERFACE s_axilite port=status offset=0xf0 bundle=control
#pragma HLS INTERFACE s_axilite port=macs_lo offset=0xf8 bundle=control
#pragma HLS INTERFACE s_axilite port=macs_hi offset=0x100 bundle=control
#pragma HLS INTERFACE s_axilite port=cycles_lo offset=0x108 bundle=control
#pragma HLS INTERFACE s_axilite port=cycles_hi offset=0x110 bundle=control
#pragma HLS INTERFACE s_axilite port=saturations offset=0x118 bundle=control
#pragma HLS INTERFACE s_axilite port=ew_cycles_lo offset=0x120 bundle=control
#pragma HLS INTERFACE s_axilite port=ew_cycles_hi offset=0x128 bundle=control
#pragma HLS INTERFACE s_axilite port=min_axi_bytes_lo offset=0x130 bundle=control
#pragma HLS INTERFACE s_axilite port=min_axi_bytes_hi offset=0x138 bundle=control
#pragma HLS INTERFACE s_axilite port=wts_rd_bytes_lo offset=0x140 bundle=control
#pragma HLS INTERFACE s_axilite port=wts_rd_bytes_hi offset=0x148 bundle=control
#pragma HLS INTERFACE s_axilite port=wts_wr_bytes_lo offset=0x150 bundle=control
#pragma HLS INTERFACE s_axilite port=wts_wr_bytes_hi offset=0x158 bundle=control
#pragma HLS INTERFACE s_axilite port=wts_rd_bursts offset=0x160 bundle=control
#pragma HLS INTERFACE s_axilite port=wts_wr_bursts offset=0x168 bundle=control
#pragma HLS INTERFACE s_axilite port=act_rd_bytes_lo offset=0x170 bundle=control
#pragma HLS INTERFACE s_axilite port=act_rd_bytes_hi offset=0x178 bundle=control
#pragma HLS INTERFACE s_axilite port=act_wr_bytes_lo offset=0x180 bundle=control
#pragma HLS INTERFACE s_axilite port=act_wr_bytes_hi offset=0x188 bundle=control
#pragma HLS INTERFACE s_axilite port=act_rd_bursts offset=0x190 bundle=control
#pragma HLS INTERFACE s_axilite port=act_wr_bursts offset=0x198 bundle=control
#pragma HLS INTERFACE s_axilite port=grd_rd_bytes_lo offset=0x1a0 bundle=control
#pragma HLS INTERFACE s_axilite port=grd_rd_bytes_hi offset=0x1a8 bundle=control
#pragma HLS INTERFACE s_axilite port=grd_wr_bytes_lo offset=0x1b0 bundle=control
#pragma HLS INTERFACE s_axilite port=grd_wr_bytes_hi offset=0x1b8 bundle=control
#pragma HLS INTERFACE s_axilite port=grd_rd_bursts offset=0x1c0 bundle=control
#pragma HLS INTERFACE s_axilite port=grd_wr_bursts offset=0x1c8 bundle=control
#pragma HLS INTERFACE s_axilite port=aux_rd_bytes_lo offset=0x1d0 bundle=control
#pragma HLS INTERFACE s_axilite port=aux_rd_bytes_hi offset=0x1d8 bundle=control
#pragma HLS INTERFACE s_axilite port=aux_wr_bytes_lo offset=0x1e0 bundle=control
#pragma HLS INTERFACE s_axilite port=aux_wr_bytes_hi offset=0x1e8 bundle=control
#pragma HLS INTERFACE s_axilite port=aux_rd_bursts offset=0x1f0 bundle=control
#pragma HLS INTERFACE s_axilite port=aux_wr_bursts offset=0x1f8 bundle=control
#pragma HLS INTERFACE s_axilite port=return bundle=control
    onion::spec::Args args;
    args.opcode = opcode;
    args.flags = flags;
    args.n_tokens = n_tokens;
    args.n_keep = n_keep;
    args.dim = dim;
    args.heads = heads;
    args.mlp_dim = mlp_dim;
    args.in_dim = in_dim;
    args.out_dim = out_dim;
    args.x_off = x_off;
    args.y_off = y_off;
    args.w_off = w_off;
    args.save_off = save_off;
    args.attn_off = attn_off;
    args.keys_off = keys_off;
    args.keep_off = keep_off;
    args.gy_off = gy_off;
    args.gx_off = gx_off;
    args.gw_off = gw_off;
    args.gs_off = gs_off;
    args.fracs_off = fracs_off;
    args.stats_off = stats_off;
    args.gacc_off = gacc_off;
    onion::spec::Outputs out;
    onion::run_engine(args, wts, act, grd, aux, out);
    status = out.status;
    macs_lo = out.macs_lo;
    macs_hi = out.macs_hi;
    cycles_lo = out.cycles_lo;
    cycles_hi = out.cycles_hi;
    saturations = out.saturations;
    ew_cycles_lo = out.ew_cycles_lo;
    ew_cycles_hi = out.ew_cycles_hi;
    min_axi_bytes_lo = out.min_axi_bytes_lo;
    min_axi_bytes_hi = out.min_axi_bytes_hi;
    wts_rd_bytes_lo = out.wts_rd_bytes_lo;
    wts_rd_bytes_hi = out.wts_rd_bytes_hi;
    wts_wr_bytes_lo = out.wts_wr_bytes_lo;
    wts_wr_bytes_hi = out.wts_wr_bytes_hi;
    wts_rd_bursts = out.wts_rd_bursts;
    wts_wr_bursts = out.wts_wr_bursts;
    act_rd_bytes_lo = out.act_rd_bytes_lo;
    act_rd_bytes_hi = out.act_rd_bytes_hi;
    act_wr_bytes_lo = out.act_wr_bytes_lo;
    act_wr_bytes_hi = out.act_wr_bytes_hi;
    act_rd_bursts = out.act_rd_bursts;
    act_wr_bursts = out.act_wr_bursts;
    grd_rd_bytes_lo = out.grd_rd_bytes_lo;
    grd_rd_bytes_hi = out.grd_rd_bytes_hi;
    grd_wr_bytes_lo = out.grd_wr_bytes_lo;
    grd_wr_bytes_hi = out.grd_wr_bytes_hi;
    grd_rd_bursts = out.grd_rd_bursts;
    grd_wr_bursts = out.grd_wr_bursts;
    aux_rd_bytes_lo = out.aux_rd_bytes_lo;
    aux_rd_bytes_hi = out.aux_rd_bytes_hi;
    aux_wr_bytes_lo = out.aux_wr_bytes_lo;
    aux_wr_bytes_hi = out.aux_wr_bytes_hi;
    aux_rd_bursts = out.aux_rd_bursts;
    aux_wr_bursts = out.aux_wr_bursts;
}
// ---- END GENERATED INTERFACE ----
