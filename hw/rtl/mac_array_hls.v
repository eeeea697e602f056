// mac_array as a Vitis HLS RTL blackbox: ap_ctrl_chain block control, ap_fifo streams, scalar
// arguments as C ints. Port names follow hw/rtl/mac_array_blackbox.json; the C-simulation model
// is onion::mac_array_rtl in hw/include/onion/mac_array_blackbox.h.
//
// A C int that does not fit the core's field (M, N, K >= 2^DIM_BITS, shift outside -16..47,
// bias_lshift outside 0..32) is passed on as an out-of-range value, so the core raises cfg_error,
// takes no operands and the call returns at once with ap_return = 0xFFFFFFFF.
`timescale 1ns / 1ps
module mac_array_hls #(
    // BEGIN generated geometry (python -m hw.gen.mac_geometry, from hw/include/onion/mac_array_timing.h)
    parameter integer ROWS     = 32,
    parameter integer COLS     = 64,
    parameter integer MAX_M    = 512,
    // END generated geometry
    parameter integer DIM_BITS = 16
) (
    input  wire                 ap_clk,
    input  wire                 ap_rst,
    input  wire                 ap_start,
    output wire                 ap_ready,
    output wire                 ap_done,
    output wire                 ap_idle,
    input  wire                 ap_continue,
    output reg  [31:0]          ap_return,
    input  wire [31:0]          M,
    input  wire [31:0]          N,
    input  wire [31:0]          K,
    input  wire [31:0]          shift,
    input  wire                 bias_en,
    input  wire [31:0]          bias_lshift,
    input  wire [ROWS*16-1:0]   a_stream_dout,
    input  wire                 a_stream_empty_n,
    output wire                 a_stream_read,
    input  wire [COLS*16-1:0]   b_stream_dout,
    input  wire                 b_stream_empty_n,
    output wire                 b_stream_read,
    output wire [COLS*16-1:0]   c_stream_din,
    input  wire                 c_stream_full_n,
    output wire                 c_stream_write
);
    localparam [1:0] IDLE = 2'd0, RUN = 2'd1, DONE = 2'd2;
    reg [1:0] state;

    wire busy, cfg_error, a_ready, b_ready, c_valid, c_last;
    wire [31:0] sat_count;

    // out-of-range C ints become values the core rejects
    wire dims_fit = (M >> DIM_BITS) == 0 && (N >> DIM_BITS) == 0 && (K >> DIM_BITS) == 0;
    wire shift_fit = $signed(shift) >= -32'sd16 && $signed(shift) <= 32'sd47;
    wire lshift_fit = bias_lshift <= 32'd32;

    assign ap_ready = ap_start && state == IDLE;
    assign ap_idle  = state == IDLE;
    assign ap_done  = state == DONE;

    always @(posedge ap_clk) begin
        if (ap_rst) begin
            state <= IDLE;
            ap_return <= 32'd0;
        end else begin
            case (state)
                IDLE: if (ap_start) state <= RUN;
                RUN: if (!busy) begin   // busy rose at the start edge unless the job was refused
                    state <= DONE;
                    ap_return <= cfg_error ? 32'hffff_ffff : sat_count;
                end
                DONE: if (ap_continue) state <= IDLE;
                default: state <= IDLE;
            endcase
        end
    end

    assign a_stream_read  = a_ready && a_stream_empty_n;
    assign b_stream_read  = b_ready && b_stream_empty_n;
    assign c_stream_write = c_valid && c_stream_full_n;

    mac_array #(.ROWS(ROWS), .COLS(COLS), .MAX_M(MAX_M), .DIM_BITS(DIM_BITS)) u_core (
        .clk(ap_clk), .rst(ap_rst),
        .start(ap_ready),
        .cfg_m(dims_fit ? M[DIM_BITS-1:0] : {DIM_BITS{1'b0}}),
        .cfg_n(N[DIM_BITS-1:0]),
        .cfg_k(K[DIM_BITS-1:0]),
        .cfg_shift(shift_fit ? shift[6:0] : 7'sd63),
        .cfg_bias_en(bias_en),
        .cfg_bias_lshift(lshift_fit ? bias_lshift[5:0] : 6'd63),
        .busy(busy), .cfg_error(cfg_error), .sat_count(sat_count),
        .a_valid(a_stream_empty_n), .a_ready(a_ready), .a_data(a_stream_dout),
        .b_valid(b_stream_empty_n), .b_ready(b_ready), .b_data(b_stream_dout),
        .c_valid(c_valid), .c_ready(c_stream_full_n), .c_data(c_stream_din), .c_last(c_last)
    );

    // c_last is implied by the beat count the caller expects; unused here
    wire unused_ok = &{1'b0, c_last};
endmodule
