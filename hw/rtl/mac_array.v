// Onion MAC array: ROWS x COLS DSP48E2 slices that compute one GEMM job
//   C[M][N] = requantize(bias[n] << bias_lshift + sum_k A[m][k] * B[n][k], shift)
// bit-identical to onion::gemm_model (hw/include/onion/gemm.h), one A row per cycle.
//
// Weight-stationary and systolic. Each of the COLS columns is a chain of ROWS DSP48E2 cascaded
// through PCOUT -> PCIN: DSP r multiplies lane r of an A row by its stationary weight and adds the
// partial sum of DSP r-1, so the column sum is built inside the DSP columns with no fabric adder.
// Lane r of every A row is delayed by r cycles (the skew) so it meets its partial sum. Weights sit
// in the DSPs' own B1 -> B2 register pair: B1 is the shadow tile (the loader writes one row per B
// beat), B2 the active tile; B2 takes B1 when the first A row of a tile reaches that DSP row (the
// tile switch travels down the skew with the data). The first DSP of a column adds the bias
// (C register, first k-tile only), the last adds the partial sum of the previous k-tiles (C register
// fed by the accumulator memory, reset to 0 in the first k-tile), so every k-tile's column sums go
// straight from the last DSP's P register to the accumulator memory and, in the last k-tile, to
// requantisation. All arithmetic up to requantisation is the DSPs' exact 48-bit arithmetic.
//
// Flow control is local: the array never stalls. Every stage runs every cycle and carries a valid
// bit; an A row enters only when the output FIFO has room reserved for its result (credits), so
// the result stream's back-pressure never reaches the datapath. Operands enter through registers,
// the A broadcast is re-registered per group of columns, requantisation is a 5-stage pipeline and
// the saturation count is summed over two stages.
//
// A job walks ceil(N/COLS) x ceil(K/ROWS) tiles, n-tile-major: for each n-tile, for each k-tile,
// M A beats. Cycle formula: hw/include/onion/mac_array_timing.h.
//
// Streams (valid/ready, a beat moves when both are high at a rising edge):
//   B : per tile, [bias beat: bias[n0 .. n0+COLS-1] if bias_en and first k-tile], then ROWS beats
//       of COLS words, beat r = B[n0 .. n0+COLS-1][k0 + r]. Words past N or K are don't-care.
//   A : per tile, M beats of ROWS words, A[m][k0 .. k0+ROWS-1] (lanes past K are don't-care: the
//       core loads zero weights for them).
//   C : per n-tile, M beats of COLS words, C[m][n0 .. n0+COLS-1] (columns past N are don't-care).
// Lane i of a bus is bits [16*i +: 16]. Reset is synchronous and may arrive at any time.
//
// Simulation needs a DSP48E2 model (hw/rtl/sim/dsp48e2_model.v); synthesis uses the primitive.
`timescale 1ns / 1ps
module mac_array #(
    // BEGIN generated geometry (python -m hw.gen.mac_geometry, from hw/include/onion/mac_array_timing.h)
    parameter integer ROWS     = 32,   // k lanes per tile = DSPs per column chain (power of two, >= 4)
    parameter integer COLS     = 64,   // n columns per tile (power of two, >= 4)
    parameter integer MAX_M    = 512,  // rows of the accumulator memory: M <= MAX_M
    // END generated geometry
    parameter integer DIM_BITS = 16,   // width of the M, N, K job fields
    parameter integer COL_GROUP = 16,  // columns fed by one copy of the A lanes and row controls
    parameter integer ROW_GROUP = 8    // DSP rows fed by one copy of the B beat
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
    localparam integer LEVELS    = $clog2(ROWS);
    localparam integer COL_BITS  = $clog2(COLS);
    localparam integer M_BITS    = $clog2(MAX_M);
    localparam integer BEAT_BITS = LEVELS + 2;          // counts up to ROWS + 1 beats per tile
    localparam integer GROUP     = COLS < COL_GROUP ? COLS : COL_GROUP;
    localparam integer GROUPS    = COLS / GROUP;
    localparam integer RGROUP    = ROWS < ROW_GROUP ? ROWS : ROW_GROUP;
    localparam integer RGROUPS   = ROWS / RGROUP;
    // Output FIFO: holds every result row in flight, so it never has to push back on the array.
    // A row reaches the C port ROWS + 11 cycles after it entered; the depth covers that.
    localparam integer FIFO_BITS = $clog2(ROWS + 16);
    localparam integer FIFO_DEPTH = 1 << FIFO_BITS;
    // Pipeline positions, in cycles after the A handshake (tag[d] is registered d edges later):
    localparam integer T_RD   = ROWS;       // accumulator read address (row m of the previous k-tile)
    localparam integer T_RSTC = ROWS + 1;   // last DSP's C register: reset in the first k-tile
    localparam integer T_WR   = ROWS + 3;   // the last DSP's P holds the column sums: write them
    localparam integer T_OUT  = ROWS + 8;   // requantised word registered (5 stages after T_WR)
    // sized copies of the geometry, so no comparison mixes widths
    localparam [COL_BITS:0]    COLS_N     = COLS[COL_BITS:0];
    localparam [BEAT_BITS-1:0] ROWS_BEATS = ROWS[BEAT_BITS-1:0];
    localparam [DIM_BITS:0]    ROWS_D     = ROWS[DIM_BITS:0];
    localparam [DIM_BITS:0]    COLS_D     = COLS[DIM_BITS:0];
    localparam [DIM_BITS:0]    ONE_D      = 1;
    localparam [FIFO_BITS:0]   FIFO_FULL  = FIFO_DEPTH[FIFO_BITS:0];

    // ------------------------------------------------------------------ job registers
    reg [DIM_BITS-1:0] k_r;
    reg [DIM_BITS-1:0] m_last, n_last, k_last;   // M - 1, tiles - 1: compared against counters
    reg [5:0]          lshift_r;
    reg                bias_en_r;
    reg [5:0]          rq_u;          // shift + 16, for the requantisers
    reg [47:0]         rq_fit_mask;   // bits compared with the sign (mac_requant.v)
    reg [2:0]          gap_req;       // min cycles from a tile's last A beat to the next's first
    reg [DIM_BITS-1:0] out_m, out_nt; // position of the next result beat

    /* verilator lint_off UNUSEDSIGNAL */  // low bits: remainders, not needed
    wire [DIM_BITS:0] n_round = {1'b0, cfg_n} + COLS_D - ONE_D;
    wire [DIM_BITS:0] k_round = {1'b0, cfg_k} + ROWS_D - ONE_D;
    /* verilator lint_on UNUSEDSIGNAL */
    wire [DIM_BITS-1:0] n_tiles_next = {{(COL_BITS-1){1'b0}}, n_round[DIM_BITS:COL_BITS]};
    wire [DIM_BITS-1:0] k_tiles_next = {{(LEVELS-1){1'b0}}, k_round[DIM_BITS:LEVELS]};
    wire cfg_ok = cfg_m != 0 && {{(32-DIM_BITS){1'b0}}, cfg_m} <= MAX_M && cfg_n != 0 && cfg_k != 0 &&
                  cfg_shift >= -7'sd16 && cfg_shift <= 7'sd47 && cfg_bias_lshift <= 6'd32;
    wire take_start = start && !busy;

    // requantiser constants: u = shift + 16; fit_mask[j] = (j >= shift + 15) for j < 47, and the
    // bit below acc[0] for shift = -16 (mac_requant.v)
    wire [5:0] u_next = cfg_shift[5:0] + 6'd16;   // modulo 64: -16 .. 47 -> 0 .. 63
    // (a thermometer decode of shift + 15: -1 .. 62)
    wire [6:0]  fit_from = cfg_shift + 7'sd15;
    wire [46:0] fit_low  = {47{1'b1}} << fit_from[5:0];
    wire [47:0] fit_mask_next = {cfg_shift == -7'sd16, fit_from[6] ? {47{1'b1}} : fit_low};
    // Reading row m of the previous k-tile must follow its write: the two are T_WR + 1 - T_RD - 1
    // = 3 cycles apart in the pipeline, so row m of consecutive k-tiles must enter >= 4 cycles
    // apart. With M >= 5 that always holds; with fewer rows, and only when A stalls, the next tile
    // waits gap_req cycles after the previous tile's last row.
    wire [2:0] gap_next = cfg_m >= 5 ? 3'd0 : 3'd5 - cfg_m[2:0];

    // ------------------------------------------------------------------ B loader
    reg [DIM_BITS-1:0]  ld_nt, ld_kt;
    reg [BEAT_BITS-1:0] ld_beat;
    reg                 ld_done;
    reg                 shadow_full;   // the next tile's weights (+ bias) are in the shadow
    reg                 sh_first, sh_last;
    reg [DIM_BITS-1:0]  k_left;        // K - k0 of the tile being loaded
    reg [DIM_BITS-1:0]  n_left;        // N - n0 of the tile being loaded

    wire                 ld_has_bias = bias_en_r && ld_kt == 0;
    wire [BEAT_BITS-1:0] ld_beats = ROWS_BEATS + {{(BEAT_BITS-1){1'b0}}, ld_has_bias};
    wire [LEVELS-1:0]    ld_row = ld_beat[LEVELS-1:0] - {{(LEVELS-1){1'b0}}, ld_has_bias};
    wire                 ld_bias_beat = ld_has_bias && ld_beat == 0;
    wire [COL_BITS:0]    ld_cols = {1'b0, n_left} >= COLS_D ? COLS_N : n_left[COL_BITS:0];
    // rows past K get zero weights, so whatever the A lanes past K carry adds nothing
    wire                 ld_pad = {1'b0, k_left} < ROWS_D &&
                                  {{(DIM_BITS-LEVELS){1'b0}}, ld_row} >= k_left;

    assign b_ready = busy && !ld_done && !shadow_full;
    wire b_fire = b_valid && b_ready;
    wire completing = b_fire && ld_beat == ld_beats - 1;

    // ------------------------------------------------------------------ A admission
    reg [DIM_BITS-1:0]    act_left;      // A beats still to take for the streaming tile
    reg [M_BITS-1:0]      act_m;         // row index of the next A beat of the streaming tile
    reg                   cur_first, cur_last;
    reg [FIFO_BITS:0]     reserved;      // result rows admitted and not yet taken from the C port
    reg [2:0]             since_last;    // cycles since the last tile's last A beat (saturating)

    wire opens_tile = act_left == 0;     // the next A beat is the first of the shadow tile
    wire credit_ok  = reserved < FIFO_FULL;
    wire gap_ok     = !opens_tile || since_last >= gap_req;
    assign a_ready  = (!opens_tile || shadow_full) && credit_ok && gap_ok;
    wire a_fire     = a_valid && a_ready;
    wire beat_first = opens_tile ? sh_first : cur_first;
    wire beat_last  = opens_tile ? sh_last : cur_last;
    wire [M_BITS-1:0]   beat_m  = opens_tile ? {M_BITS{1'b0}} : act_m;
    wire beat_ends_tile = opens_tile ? m_last == 0 : act_left == 1;
    wire c_fire = c_valid && c_ready;

    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0;
            cfg_error <= 1'b0;
            ld_done <= 1'b1;
            shadow_full <= 1'b0;
            act_left <= 0;
            reserved <= 0;
            since_last <= 3'd7;
        end else if (take_start) begin
            cfg_error <= !cfg_ok;
            busy <= cfg_ok;
            k_r <= cfg_k;
            m_last <= cfg_m - 1;
            n_last <= n_tiles_next - 1;
            k_last <= k_tiles_next - 1;
            lshift_r <= cfg_bias_lshift;
            bias_en_r <= cfg_bias_en;
            rq_u <= u_next;
            rq_fit_mask <= fit_mask_next;
            gap_req <= gap_next;
            ld_nt <= 0;
            ld_kt <= 0;
            k_left <= cfg_k;
            n_left <= cfg_n;
            ld_beat <= 0;
            ld_done <= !cfg_ok;
            shadow_full <= 1'b0;
            act_left <= 0;
            reserved <= 0;
            since_last <= 3'd7;
        end else begin
            // loader: count the beats of the shadow tile
            if (b_fire) begin
                if (ld_beat == 0) begin
                    sh_first <= ld_kt == 0;
                    sh_last  <= ld_kt == k_last;
                end
                if (completing) begin
                    ld_beat <= 0;
                    shadow_full <= 1'b1;
                    if (ld_kt == k_last) begin
                        ld_kt <= 0;
                        k_left <= k_r;
                        n_left <= n_left - COLS_D[DIM_BITS-1:0];
                        if (ld_nt == n_last) ld_done <= 1'b1;
                        else ld_nt <= ld_nt + 1;
                    end else begin
                        ld_kt <= ld_kt + 1;
                        k_left <= k_left - ROWS_D[DIM_BITS-1:0];
                    end
                end else begin
                    ld_beat <= ld_beat + 1;
                end
            end
            // admission: the first A beat of a tile switches the shadow to active (down the skew)
            if (a_fire) begin
                if (opens_tile) begin
                    shadow_full <= 1'b0;
                    cur_first <= sh_first;
                    cur_last  <= sh_last;
                    act_left  <= m_last;
                    act_m     <= 1;
                end else begin
                    act_left <= act_left - 1;
                    act_m    <= act_m + 1;
                end
            end
            if (a_fire && beat_ends_tile) since_last <= 3'd1;
            else if (since_last != 3'd7) since_last <= since_last + 3'd1;
            reserved <= reserved + {{FIFO_BITS{1'b0}}, a_fire && beat_last} - {{FIFO_BITS{1'b0}}, c_fire};
            if (c_fire && c_last) busy <= 1'b0;
        end
    end

    // ------------------------------------------------------------------ B path: beat register,
    // per-row-group data copies with zero rows past K, per-row B1 enables (B1 written 2 edges
    // after the handshake, always after the DSP row's B2 took the previous tile)
    // Columns past N get zero weights and a zero bias too: their sums stay 0, so they never
    // saturate and the saturation count needs no column mask.
    reg                 bi_v, bi_bias, bi_first, bi_pad;
    reg [LEVELS-1:0]    bi_row;
    reg [COLS*16-1:0]   bi_data;
    reg [COLS-1:0]      bi_col_pad;
    integer pc;
    always @(posedge clk) begin
        bi_data <= b_data;
        for (pc = 0; pc < COLS; pc = pc + 1)
            bi_col_pad[pc] <= {1'b0, pc[COL_BITS-1:0]} >= ld_cols;
        bi_row <= ld_row;
        bi_bias <= ld_bias_beat;
        bi_first <= ld_beat == 0;
        bi_pad <= ld_pad && !ld_bias_beat;
        if (rst) bi_v <= 1'b0;
        else bi_v <= b_fire;
    end

    (* keep = "true" *) reg [COLS*16-1:0] b_copy [0:RGROUPS-1];
    (* keep = "true" *) reg [ROWS-1:0]    ceb1   [0:GROUPS-1];
    integer rg, bg, rr, wc;
    always @(posedge clk) begin
        for (rg = 0; rg < RGROUPS; rg = rg + 1)
            for (wc = 0; wc < COLS; wc = wc + 1)
                b_copy[rg][16*wc +: 16] <= (bi_pad || bi_col_pad[wc]) ? 16'd0 : bi_data[16*wc +: 16];
        for (bg = 0; bg < GROUPS; bg = bg + 1)
            for (rr = 0; rr < ROWS; rr = rr + 1)
                ceb1[bg][rr] <= !rst && bi_v && !bi_bias && bi_row == rr[LEVELS-1:0];
    end

    // bias: sign_extend(bias) << bias_lshift, in three shift steps (by 0..3, 4 x 0..3, 16 x 0..2)
    // registered one per cycle; tiles without a bias get zero. Written 3 edges after the tile's
    // first B beat, read by the first DSP row when the tile starts (>= ROWS + 1 edges later).
    reg              bs1_v, bs2_v;
    reg [19*COLS-1:0] bs1;
    reg [31*COLS-1:0] bs2;
    reg [48*COLS-1:0] bias_sh;
    integer bc;
    always @(posedge clk) begin
        if (rst) begin
            bs1_v <= 1'b0;
            bs2_v <= 1'b0;
        end else begin
            bs1_v <= bi_v && bi_first;
            bs2_v <= bs1_v;
        end
        for (bc = 0; bc < COLS; bc = bc + 1) begin
            if (bi_v && bi_first)
                bs1[19*bc +: 19] <= (bi_bias && !bi_col_pad[bc])
                                    ? {{3{bi_data[16*bc+15]}}, bi_data[16*bc +: 16]} << lshift_r[1:0] : 19'd0;
            if (bs1_v)
                bs2[31*bc +: 31] <= {{12{bs1[19*bc+18]}}, bs1[19*bc +: 19]} << {lshift_r[3:2], 2'd0};
            if (bs2_v)
                bias_sh[48*bc +: 48] <= {{17{bs2[31*bc+30]}}, bs2[31*bc +: 31]} << {lshift_r[5:4], 4'd0};
        end
    end

    // ------------------------------------------------------------------ A path: input register,
    // skew (lane r waits r cycles), per-column-group broadcast register; the tile-switch flag
    // travels with lane r and becomes row r's B2 enable
    reg               ai_open;
    reg [ROWS*16-1:0] ai_data;
    always @(posedge clk) begin
        ai_data <= a_data;
        if (rst) ai_open <= 1'b0;
        else ai_open <= a_fire && opens_tile;
    end

    reg [ROWS-2:0] open_skew;    // open_skew[r-1]: ai_open delayed by r more cycles
    always @(posedge clk) begin
        if (rst) open_skew <= {(ROWS-1){1'b0}};
        else open_skew <= {open_skew[ROWS-3:0], ai_open};
    end
    wire [ROWS-1:0] open_at = {open_skew[ROWS-2:0], ai_open};

    wire [ROWS*16-1:0] lane_skewed;
    genvar gl;
    generate
        for (gl = 0; gl < ROWS; gl = gl + 1) begin : g_skew
            if (gl == 0) begin : g_none
                assign lane_skewed[15:0] = ai_data[15:0];
            end else begin : g_delay
                reg [15:0] sk [1:gl];
                integer d;
                always @(posedge clk) begin
                    sk[1] <= ai_data[16*gl +: 16];
                    for (d = 2; d <= gl; d = d + 1) sk[d] <= sk[d-1];
                end
                assign lane_skewed[16*gl +: 16] = sk[gl];
            end
        end
    endgenerate

    (* keep = "true" *) reg [ROWS*16-1:0] a_grp   [0:GROUPS-1];   // A lanes into the DSP rows
    (* keep = "true" *) reg [ROWS-1:0]    ceb2    [0:GROUPS-1];   // B2 <= B1: the tile switch
    (* keep = "true" *) reg               cec0    [0:GROUPS-1];   // first row's C <= the bias
    (* keep = "true" *) reg               rstc_acc[0:GROUPS-1];   // last row's C <= 0 (first k-tile)
    reg [M_BITS-1:0] tag_m     [0:T_OUT];
    reg              tag_v     [0:T_OUT];
    reg              tag_first [0:T_OUT];
    reg              tag_last  [0:T_OUT];
    integer cg;
    always @(posedge clk) begin
        for (cg = 0; cg < GROUPS; cg = cg + 1) begin
            a_grp[cg] <= lane_skewed;
            if (rst) begin
                ceb2[cg] <= {ROWS{1'b0}};
                cec0[cg] <= 1'b0;
            end else begin
                ceb2[cg] <= open_at;
                cec0[cg] <= ceb2[cg][0];
            end
            rstc_acc[cg] <= tag_first[T_RSTC-1];
        end
    end

    // ------------------------------------------------------------------ row tags along the array
    integer s;
    always @(posedge clk) begin
        tag_m[0]     <= beat_m;
        tag_first[0] <= beat_first;
        tag_last[0]  <= beat_last;
        for (s = 1; s <= T_OUT; s = s + 1) begin
            tag_m[s]     <= tag_m[s-1];
            tag_first[s] <= tag_first[s-1];
            tag_last[s]  <= tag_last[s-1];
        end
        if (rst || take_start) begin
            for (s = 0; s <= T_OUT; s = s + 1) tag_v[s] <= 1'b0;
        end else begin
            tag_v[0] <= a_fire;
            for (s = 1; s <= T_OUT; s = s + 1) tag_v[s] <= tag_v[s-1];
        end
    end

    // ------------------------------------------------------------------ the DSP columns
    wire [48*COLS-1:0] col_sum;    // P of each column's last DSP
    reg  [48*COLS-1:0] acc_rd;     // accumulator row read for the last DSPs' C registers
    genvar gc, gr;
    generate
        for (gc = 0; gc < COLS; gc = gc + 1) begin : g_col
            wire [47:0] cascade [0:ROWS];
            assign cascade[0] = 48'd0;
            for (gr = 0; gr < ROWS; gr = gr + 1) begin : g_pe
                localparam [0:0] FIRST = gr == 0;
                localparam [0:0] LAST  = gr == ROWS - 1;
                // OPMODE: X = Y = M; Z = PCIN (not in the first row); W = C (first and last rows)
                localparam [8:0] OPMODE = {(FIRST || LAST) ? 2'b11 : 2'b00, FIRST ? 3'b000 : 3'b001, 4'b0101};
                wire [15:0] a_lane = a_grp[gc / GROUP][16*gr +: 16];
                wire [15:0] w_word = b_copy[gr / RGROUP][16*gc +: 16];
                wire [47:0] c_in = FIRST ? bias_sh[48*gc +: 48] : LAST ? acc_rd[48*gc +: 48] : 48'd0;
                /* verilator lint_off UNUSEDSIGNAL */  // only the last row's P leaves the column
                wire [47:0] p_out;
                /* verilator lint_on UNUSEDSIGNAL */
                DSP48E2 #(
                    .AREG(1), .ACASCREG(1), .BREG(2), .BCASCREG(2), .CREG((FIRST || LAST) ? 1 : 0),
                    .DREG(0), .ADREG(0), .MREG(1), .PREG(1),
                    .OPMODEREG(0), .ALUMODEREG(0), .INMODEREG(0), .CARRYINREG(0), .CARRYINSELREG(0),
                    .USE_MULT("MULTIPLY"), .USE_SIMD("ONE48"), .AMULTSEL("A"), .BMULTSEL("B"),
                    .A_INPUT("DIRECT"), .B_INPUT("DIRECT"), .PREADDINSEL("A"),
                    .USE_PATTERN_DETECT("NO_PATDET")
                ) u_dsp (
                    .CLK(clk),
                    .A({{14{a_lane[15]}}, a_lane}), .B({{2{w_word[15]}}, w_word}), .C(c_in), .D(27'd0),
                    .PCIN(cascade[gr]), .ACIN(30'd0), .BCIN(18'd0), .CARRYCASCIN(1'b0), .MULTSIGNIN(1'b0),
                    .CARRYIN(1'b0), .CARRYINSEL(3'd0), .OPMODE(OPMODE), .ALUMODE(4'd0), .INMODE(5'd0),
                    .CEA1(1'b0), .CEA2(1'b1), .CEB1(ceb1[gc / GROUP][gr]), .CEB2(ceb2[gc / GROUP][gr]),
                    .CEC(FIRST ? cec0[gc / GROUP] : LAST ? 1'b1 : 1'b0), .CED(1'b0), .CEAD(1'b0),
                    .CEM(1'b1), .CEP(1'b1), .CECTRL(1'b0), .CEALUMODE(1'b0), .CEINMODE(1'b0),
                    .CECARRYIN(1'b0),
                    .RSTA(1'b0), .RSTB(1'b0), .RSTC(LAST ? rstc_acc[gc / GROUP] : 1'b0), .RSTD(1'b0),
                    .RSTM(1'b0), .RSTP(1'b0), .RSTCTRL(1'b0), .RSTALUMODE(1'b0), .RSTINMODE(1'b0),
                    .RSTALLCARRYIN(1'b0),
                    .P(p_out), .PCOUT(cascade[gr+1])
                );
                if (LAST) begin : g_sum
                    assign col_sum[48*gc +: 48] = p_out;
                end
            end
        end
    endgenerate

    // ------------------------------------------------------------------ accumulator memory
    // Row m of every k-tile is written T_WR + 1 edges after its A beat; row m of the next k-tile
    // reads it T_RD + 1 edges after its own (>= 4 cycles later, see gap_req).
    reg [48*COLS-1:0] acc_mem [0:MAX_M-1];
    always @(posedge clk) begin
        if (tag_v[T_WR]) acc_mem[tag_m[T_WR]] <= col_sum;
        acc_rd <= acc_mem[tag_m[T_RD]];
    end

    // ------------------------------------------------------------------ requantise
    wire [COLS*16-1:0] rq_word;
    wire [COLS-1:0]    rq_sat;
    genvar gq;
    generate
        for (gq = 0; gq < COLS; gq = gq + 1) begin : g_rq
            mac_requant u_rq (.clk(clk), .acc(col_sum[48*gq +: 48]), .u(rq_u), .fit_mask(rq_fit_mask),
                              .word(rq_word[16*gq +: 16]), .saturated(rq_sat[gq]));
        end
    endgenerate
    wire out_v = tag_v[T_OUT] && tag_last[T_OUT];

    // saturation count: the requantisers' flags (a stage before their words), counted per group of
    // 6 columns, then per group of up to 4 counts, then the beat, then added to the job's count
    localparam integer SAT_G6  = (COLS + 5) / 6;
    localparam integer SAT_G24 = (SAT_G6 + 3) / 4;
    localparam integer SAT_W   = COL_BITS + 4;     // wide enough for a beat's count (<= COLS)
    wire [6*SAT_G6-1:0]     sat_flags = {{(6*SAT_G6-COLS){1'b0}}, rq_sat};
    reg [3*SAT_G6-1:0]      sat_c6;
    reg [5*SAT_G24-1:0]     sat_c24_next, sat_c24;
    reg [SAT_W-1:0]         sat_beat_next, sat_beat;
    reg                     sat_v1, sat_v2, sat_v3;

    function [2:0] popcount6(input [5:0] f);
        integer i;
        begin
            popcount6 = 3'd0;
            for (i = 0; i < 6; i = i + 1) popcount6 = popcount6 + {2'd0, f[i]};
        end
    endfunction

    integer sg;
    always @* begin
        sat_c24_next = 0;
        for (sg = 0; sg < SAT_G6; sg = sg + 1)
            sat_c24_next[5*(sg/4) +: 5] = sat_c24_next[5*(sg/4) +: 5] + {2'd0, sat_c6[3*sg +: 3]};
        sat_beat_next = 0;
        for (sg = 0; sg < SAT_G24; sg = sg + 1)
            sat_beat_next = sat_beat_next + {{(SAT_W-5){1'b0}}, sat_c24[5*sg +: 5]};
    end
    integer sh;
    always @(posedge clk) begin
        for (sh = 0; sh < SAT_G6; sh = sh + 1) sat_c6[3*sh +: 3] <= popcount6(sat_flags[6*sh +: 6]);
        sat_c24 <= sat_c24_next;
        sat_beat <= sat_beat_next;
        if (rst) begin
            sat_v1 <= 1'b0;
            sat_v2 <= 1'b0;
            sat_v3 <= 1'b0;
        end else begin
            sat_v1 <= tag_v[T_OUT-1] && tag_last[T_OUT-1];
            sat_v2 <= sat_v1;
            sat_v3 <= sat_v2;
        end
        if (take_start) sat_count <= 0;
        else if (sat_v3 && !rst) sat_count <= sat_count + {{(32-SAT_W){1'b0}}, sat_beat};
    end

    // ------------------------------------------------------------------ output FIFO and C port
    reg [COLS*16-1:0]  fifo [0:FIFO_DEPTH-1];
    reg [FIFO_BITS-1:0] wr_ptr, rd_ptr;
    reg [FIFO_BITS:0]   fifo_count;
    wire out_load = fifo_count != 0 && (!c_valid || c_ready);
    always @(posedge clk) begin
        if (out_v) fifo[wr_ptr] <= rq_word;
        if (out_load) c_data <= fifo[rd_ptr];
        if (rst || take_start) begin
            wr_ptr <= 0;
            rd_ptr <= 0;
            fifo_count <= 0;
            c_valid <= 1'b0;
        end else begin
            if (out_v) wr_ptr <= wr_ptr + 1;
            if (out_load) rd_ptr <= rd_ptr + 1;
            fifo_count <= fifo_count + {{FIFO_BITS{1'b0}}, out_v} - {{FIFO_BITS{1'b0}}, out_load};
            if (out_load) c_valid <= 1'b1;
            else if (c_ready) c_valid <= 1'b0;
        end
    end

    assign c_last = out_nt == n_last && out_m == m_last;
    always @(posedge clk) begin
        if (take_start) begin
            out_m <= 0;
            out_nt <= 0;
        end else if (c_fire) begin
            if (out_m == m_last) begin
                out_m <= 0;
                out_nt <= out_nt + 1;
            end else begin
                out_m <= out_m + 1;
            end
        end
    end
endmodule
