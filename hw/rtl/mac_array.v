// Onion MAC array: a weight-stationary broadcast array of ROWS x COLS 16x16-bit multipliers that
// computes one GEMM job  C[M][N] = requantize(bias[n] << bias_lshift + sum_k A[m][k] * B[n][k], shift)
// bit for bit like onion::gemm_model (hw/include/onion/gemm.h). Design notes: docs/rtl.md.
//
// Dataflow. The array holds one stationary tile of B: ROWS k-values x COLS n-columns. The rows of A
// (M of them, gathered by the engine in any order) stream through: every cycle one A beat
// (ROWS k-values of one row m) is broadcast to all columns, each column multiplies and reduces its
// ROWS products in a pipelined adder tree, and the column sums accumulate exactly (48 bits) in an
// accumulator memory indexed by m. Jobs walk the tiles n-tile-major: for each n-tile, for each
// k-tile, M A beats. The first k-tile starts from the bias, the last requantises and emits C rows.
// The next B tile loads into shadow registers while the current one streams, so a tile costs
// max(M, its B beats) cycles (cycle formula: hw/include/onion/mac_array_timing.h).
//
// Streams (valid/ready, a beat moves when both are high at a rising edge):
//   B : per tile, [bias beat: bias[n0 .. n0+COLS-1] if bias_en and first k-tile], then ROWS beats
//       of COLS words, beat r = B[n0 .. n0+COLS-1][k0 + r]. Words past N or K are don't-care.
//   A : per tile, M beats of ROWS words, A[m][k0 .. k0+ROWS-1] (lanes past K are masked to 0).
//   C : per n-tile, M beats of COLS words, C[m][n0 .. n0+COLS-1] (columns past N are don't-care).
// Lane i of a bus is bits [16*i +: 16]. Reset is synchronous and may arrive at any time.
`timescale 1ns / 1ps
module mac_array #(
    parameter integer ROWS     = 32,   // k lanes per tile (power of two, >= 4)
    parameter integer COLS     = 64,   // n columns per tile (power of two, >= 4)
    parameter integer MAX_M    = 512,  // rows of the accumulator memory: M <= MAX_M
    parameter integer DIM_BITS = 16    // width of the M, N, K job fields
) (
    input  wire                     clk,
    input  wire                     rst,
    // job configuration, taken when start is high and the core is idle
    input  wire                     start,
    input  wire [DIM_BITS-1:0]      cfg_m,
    input  wire [DIM_BITS-1:0]      cfg_n,
    input  wire [DIM_BITS-1:0]      cfg_k,
    input  wire signed [6:0]        cfg_shift,        // -16 .. 47, negative = left shift
    input  wire                     cfg_bias_en,
    input  wire [5:0]               cfg_bias_lshift,  // 0 .. 32
    output reg                      busy,
    output reg                      cfg_error,        // last start had a field out of range
    output reg  [31:0]              sat_count,        // saturated outputs (columns < N) of the job
    // A operand stream
    input  wire                     a_valid,
    output wire                     a_ready,
    input  wire [ROWS*16-1:0]       a_data,
    // B operand stream (stationary tiles, with bias beats)
    input  wire                     b_valid,
    output wire                     b_ready,
    input  wire [COLS*16-1:0]       b_data,
    // C result stream
    output reg                      c_valid,
    input  wire                     c_ready,
    output reg  [COLS*16-1:0]       c_data,
    output wire                     c_last            // last beat of the job
);
    localparam integer LEVELS    = $clog2(ROWS);       // adder-tree depth
    localparam integer COL_BITS  = $clog2(COLS);
    localparam integer TREE_W    = 32 + LEVELS;        // exact sum of ROWS 32-bit products
    localparam integer ACC_W     = 48;
    localparam integer M_BITS    = $clog2(MAX_M);
    localparam integer BEAT_BITS = LEVELS + 2;          // counts up to ROWS + 1 beats per tile
    // sized copies of the geometry, so no comparison mixes widths
    localparam [LEVELS:0]      ROWS_LANES = ROWS[LEVELS:0];
    localparam [COL_BITS:0]    COLS_N     = COLS[COL_BITS:0];
    localparam [BEAT_BITS-1:0] ROWS_BEATS = ROWS[BEAT_BITS-1:0];
    localparam [DIM_BITS:0]    ROWS_D     = ROWS[DIM_BITS:0];
    localparam [DIM_BITS:0]    COLS_D     = COLS[DIM_BITS:0];
    localparam [DIM_BITS:0]    ONE_D      = 1;

    // ------------------------------------------------------------------ job registers
    reg [DIM_BITS-1:0] m_r, n_r, k_r;
    reg [DIM_BITS-1:0] n_tiles, k_tiles;
    reg signed [6:0]   shift_r;
    reg                bias_en_r;
    reg [5:0]          lshift_r;
    reg [DIM_BITS-1:0] out_m, out_nt;     // position of the next result beat

    /* verilator lint_off UNUSEDSIGNAL */  // low bits: remainders, not needed
    wire [DIM_BITS:0] n_round = {1'b0, cfg_n} + COLS_D - ONE_D;
    wire [DIM_BITS:0] k_round = {1'b0, cfg_k} + ROWS_D - ONE_D;
    /* verilator lint_on UNUSEDSIGNAL */
    // ceil(N / COLS), ceil(K / ROWS); the dropped low bits are the remainders
    wire [DIM_BITS-1:0] n_tiles_next = {{(COL_BITS-1){1'b0}}, n_round[DIM_BITS:COL_BITS]};
    wire [DIM_BITS-1:0] k_tiles_next = {{(LEVELS-1){1'b0}}, k_round[DIM_BITS:LEVELS]};
    wire cfg_ok = cfg_m != 0 && {{(32-DIM_BITS){1'b0}}, cfg_m} <= MAX_M && cfg_n != 0 && cfg_k != 0 &&
                  cfg_shift >= -7'sd16 && cfg_shift <= 7'sd47 && cfg_bias_lshift <= 6'd32;
    wire take_start = start && !busy;

    // ------------------------------------------------------------------ B loader (shadow tile)
    reg [DIM_BITS-1:0]  ld_nt, ld_kt;
    reg [BEAT_BITS-1:0] ld_beat;
    reg                 ld_done;
    reg                 shadow_full;
    reg [COLS*16-1:0]   sh_w [0:ROWS-1];
    reg [COLS*16-1:0]   sh_bias;
    reg                 sh_first, sh_last;
    reg [LEVELS:0]      sh_lanes;    // valid k lanes of the tile
    reg [COL_BITS:0]    sh_cols;     // valid n columns of the tile

    wire                 ld_has_bias = bias_en_r && ld_kt == 0;
    wire [BEAT_BITS-1:0] ld_beats = ROWS_BEATS + {{(BEAT_BITS-1){1'b0}}, ld_has_bias};
    wire [LEVELS-1:0]    ld_row = ld_beat[LEVELS-1:0] - {{(LEVELS-1){1'b0}}, ld_has_bias};
    wire                 ld_bias_beat = ld_has_bias && ld_beat == 0;
    wire [DIM_BITS-1:0]  k_left = k_r - (ld_kt << LEVELS);
    wire [DIM_BITS-1:0]  n_left = n_r - (ld_nt << COL_BITS);

    assign b_ready = busy && !ld_done && !shadow_full;
    wire b_fire = b_valid && b_ready;
    wire completing = b_fire && ld_beat == ld_beats - 1;

    // ------------------------------------------------------------------ active tile
    reg                 act_valid;
    reg [COLS*16-1:0]   act_w [0:ROWS-1];
    reg [COLS*16-1:0]   act_bias;
    reg                 act_first, act_last, act_bias_en;
    reg [LEVELS:0]      act_lanes;
    reg [COL_BITS:0]    act_cols;
    reg [DIM_BITS-1:0]  a_cnt;

    wire adv = !c_valid || c_ready;                     // the whole pipeline moves together
    assign a_ready = act_valid && adv;
    wire a_fire = a_valid && a_ready;
    wire tile_end = a_fire && a_cnt == m_r - 1;
    wire tile_free = !act_valid || tile_end;
    wire swap = tile_free && (shadow_full || completing);

    integer r;
    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0;
            cfg_error <= 1'b0;
            ld_done <= 1'b1;
            shadow_full <= 1'b0;
            act_valid <= 1'b0;
        end else if (take_start) begin
            cfg_error <= !cfg_ok;
            busy <= cfg_ok;
            m_r <= cfg_m;
            n_r <= cfg_n;
            k_r <= cfg_k;
            n_tiles <= n_tiles_next;
            k_tiles <= k_tiles_next;
            shift_r <= cfg_shift;
            bias_en_r <= cfg_bias_en;
            lshift_r <= cfg_bias_lshift;
            ld_nt <= 0;
            ld_kt <= 0;
            ld_beat <= 0;
            ld_done <= !cfg_ok;
            shadow_full <= 1'b0;
            act_valid <= 1'b0;
        end else begin
            // loader: fill the shadow tile beat by beat
            if (b_fire) begin
                if (ld_beat == 0) begin
                    sh_first <= ld_kt == 0;
                    sh_last  <= ld_kt == k_tiles - 1;
                    sh_lanes <= {1'b0, k_left} >= ROWS_D ? ROWS_LANES : k_left[LEVELS:0];
                    sh_cols  <= {1'b0, n_left} >= COLS_D ? COLS_N : n_left[COL_BITS:0];
                end
                if (ld_bias_beat) sh_bias <= b_data;
                else sh_w[ld_row] <= b_data;
                if (completing) begin
                    ld_beat <= 0;
                    if (ld_kt == k_tiles - 1) begin
                        ld_kt <= 0;
                        if (ld_nt == n_tiles - 1) ld_done <= 1'b1;
                        else ld_nt <= ld_nt + 1;
                    end else begin
                        ld_kt <= ld_kt + 1;
                    end
                end else begin
                    ld_beat <= ld_beat + 1;
                end
            end
            // swap: the shadow tile (with the beat completing it this cycle) becomes active
            if (swap) begin
                for (r = 0; r < ROWS; r = r + 1)
                    act_w[r] <= (completing && ld_row == r[LEVELS-1:0]) ? b_data : sh_w[r];
                act_bias    <= sh_bias;
                act_first   <= sh_first;
                act_last    <= sh_last;
                act_bias_en <= sh_first && bias_en_r;
                act_lanes   <= sh_lanes;
                act_cols    <= sh_cols;
                act_valid   <= 1'b1;
                a_cnt       <= 0;
                shadow_full <= 1'b0;
            end else begin
                if (completing) shadow_full <= 1'b1;
                if (tile_free) act_valid <= 1'b0;
                if (a_fire) a_cnt <= a_cnt + 1;
            end
            if (c_valid && c_ready && c_last) busy <= 1'b0;
        end
    end

    // ------------------------------------------------------------------ tags along the tree
    // Stage 0 holds the products, stage LEVELS the column sums.
    reg                 t_v     [0:LEVELS];
    reg [M_BITS-1:0]    t_m     [0:LEVELS];
    reg                 t_first [0:LEVELS];
    reg                 t_last  [0:LEVELS];
    reg [COL_BITS:0]    t_cols  [0:LEVELS];
    reg [COLS*16-1:0]   t_bias  [0:LEVELS];   // raw bias words for first-k-tile rows, else 0

    integer s;
    always @(posedge clk) begin
        if (rst) begin
            for (s = 0; s <= LEVELS; s = s + 1) t_v[s] <= 1'b0;
        end else if (adv) begin
            t_v[0]     <= a_fire;
            t_m[0]     <= a_cnt[M_BITS-1:0];
            t_first[0] <= act_first;
            t_last[0]  <= act_last;
            t_cols[0]  <= act_cols;
            t_bias[0]  <= act_bias_en ? act_bias : {COLS*16{1'b0}};
            for (s = 1; s <= LEVELS; s = s + 1) begin
                t_v[s]     <= t_v[s-1];
                t_m[s]     <= t_m[s-1];
                t_first[s] <= t_first[s-1];
                t_last[s]  <= t_last[s-1];
                t_cols[s]  <= t_cols[s-1];
                t_bias[s]  <= t_bias[s-1];
            end
        end
    end

    // ------------------------------------------------------------------ multipliers + adder trees
    wire [COLS*TREE_W-1:0] col_sum;
    genvar gc, gr;
    generate
        for (gc = 0; gc < COLS; gc = gc + 1) begin : g_col
            // heap layout: node i sums nodes 2i and 2i+1; leaves ROWS .. 2*ROWS-1 are products
            reg signed [TREE_W-1:0] node [1:2*ROWS-1];
            integer i;
            always @(posedge clk) begin
                if (adv) begin
                    for (i = 1; i < ROWS; i = i + 1) node[i] <= node[2*i] + node[2*i+1];
                end
            end
            for (gr = 0; gr < ROWS; gr = gr + 1) begin : g_pe
                wire signed [15:0] a_lane = (gr < act_lanes) ? a_data[16*gr +: 16] : 16'sd0;
                wire signed [15:0] w      = act_w[gr][16*gc +: 16];
                wire signed [31:0] prod   = a_lane * w;
                always @(posedge clk) begin
                    if (adv) node[ROWS+gr] <= {{LEVELS{prod[31]}}, prod};
                end
            end
            assign col_sum[TREE_W*gc +: TREE_W] = node[1];
        end
    endgenerate

    // ------------------------------------------------------------------ exact accumulation
    reg [COLS*ACC_W-1:0] acc_mem [0:MAX_M-1];
    reg [COLS*ACC_W-1:0] acc_rd;           // read one stage ahead (block RAM style)
    reg                  fwd_v;            // last write, forwarded past the read-first collision
    reg [M_BITS-1:0]     fwd_m;
    reg [COLS*ACC_W-1:0] fwd_data;
    reg [COLS*ACC_W-1:0] acc_sum;          // combinational: this stage's new accumulator row

    wire use_fwd = fwd_v && fwd_m == t_m[LEVELS];
    wire [COLS*16-1:0] acc_bias  = t_bias[LEVELS];    // plain wires: the always @* below then
    wire               acc_first = t_first[LEVELS];   // depends on one stage only
    integer c;
    always @* begin
        for (c = 0; c < COLS; c = c + 1) begin : acc_lane
            reg signed [ACC_W-1:0] base;
            reg signed [15:0]      bias_word;
            bias_word = acc_bias[16*c +: 16];
            if (acc_first)      base = {{(ACC_W-16){bias_word[15]}}, bias_word} <<< lshift_r;
            else if (use_fwd)   base = fwd_data[ACC_W*c +: ACC_W];
            else                base = acc_rd[ACC_W*c +: ACC_W];
            acc_sum[ACC_W*c +: ACC_W] = base + {{(ACC_W-TREE_W){col_sum[TREE_W*c+TREE_W-1]}},
                                                col_sum[TREE_W*c +: TREE_W]};
        end
    end

    wire acc_write = adv && t_v[LEVELS] && !t_last[LEVELS];
    always @(posedge clk) begin
        if (adv) acc_rd <= acc_mem[t_m[LEVELS-1]];
        if (acc_write) acc_mem[t_m[LEVELS]] <= acc_sum;
    end
    always @(posedge clk) begin
        if (rst) fwd_v <= 1'b0;
        else if (acc_write) begin
            fwd_v <= 1'b1;
            fwd_m <= t_m[LEVELS];
            fwd_data <= acc_sum;
        end
    end

    // ------------------------------------------------------------------ final sums, requantise, emit
    reg                  f_v;
    reg [COLS*ACC_W-1:0] f_sum;
    reg [COL_BITS:0]     f_cols;
    always @(posedge clk) begin
        if (rst) f_v <= 1'b0;
        else if (adv) begin
            f_v    <= t_v[LEVELS] && t_last[LEVELS];
            f_sum  <= acc_sum;
            f_cols <= t_cols[LEVELS];
        end
    end

    wire [COLS*16-1:0] rq_word;
    wire [COLS-1:0]    rq_sat;
    genvar gq;
    generate
        for (gq = 0; gq < COLS; gq = gq + 1) begin : g_rq
            mac_requant u_rq (.acc(f_sum[ACC_W*gq +: ACC_W]), .shift(shift_r),
                              .word(rq_word[16*gq +: 16]), .saturated(rq_sat[gq]));
        end
    endgenerate

    // saturations of the real columns only (columns past N are padding)
    reg [COL_BITS:0] sat_beat;
    integer q;
    always @* begin
        sat_beat = 0;
        for (q = 0; q < COLS; q = q + 1)
            if (q < f_cols) sat_beat = sat_beat + {{COL_BITS{1'b0}}, rq_sat[q]};
    end

    assign c_last = out_nt == n_tiles - 1 && out_m == m_r - 1;
    always @(posedge clk) begin
        if (rst) begin
            c_valid <= 1'b0;
        end else begin
            if (take_start) begin
                sat_count <= 0;
                out_m <= 0;
                out_nt <= 0;
            end else if (c_valid && c_ready) begin
                if (out_m == m_r - 1) begin
                    out_m <= 0;
                    out_nt <= out_nt + 1;
                end else begin
                    out_m <= out_m + 1;
                end
            end
            if (adv) begin
                c_valid <= f_v;
                c_data  <= rq_word;
                if (f_v) sat_count <= sat_count + {{(31-COL_BITS){1'b0}}, sat_beat};
            end
        end
    end
endmodule
