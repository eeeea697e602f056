// One lane of output requantisation, bit-identical to onion::requantize (hw/include/onion/fixed.h),
// as a 5-stage pipeline (5 registers from acc to word, 4 to the saturation flag; no enables, the
// caller tracks validity):
//   shift > 0 : (acc + 2^(shift-1)) >>> shift, then saturate to 16 bits (round half up)
//   shift < 0 : acc << -shift, saturating
//   shift = 0 : saturate
// One formulation covers all three: with u = shift + 16 and X = acc * 2^17 (65 bits, sign above),
// the window X[u+16 : u] holds y0 = floor(acc / 2^shift) in its upper 16 bits and the rounding bit
// r = bit (shift-1) of acc (zero when shift <= 0) in bit 0; the result is y0 + r, saturated.
//   y0 fits 16 bits  <=>  acc[j] == acc[47] for every j >= shift + 15  (fit_mask[j], j = 0..46), and
//                         for shift = -16 also 0 == acc[47] (fit_mask[47], the bit below acc[0])
//   y0 + r overflows  <=>  y0 == 32767 and r
// The window is cut by a three-level shifter (16, 4, 1 bit steps: one 4:1 LUT level each) and only
// the bits a later level can still select are kept. shift, u and fit_mask are job constants that the
// caller computes once (mac_array.v).
`timescale 1ns / 1ps
module mac_requant (
    input  wire               clk,
    input  wire signed [47:0] acc,
    input  wire [5:0]         u,          // shift + 16: 0 .. 63
    input  wire [47:0]        fit_mask,
    output reg  signed [15:0] word,       // 5 cycles after acc
    output wire               saturated   // 4 cycles after acc: word will be clipped
);
    // X = {sign x 31, acc, 17 zeros}: 96 bits, enough for a 48 + 31 bit window start
    wire [95:0] x = {{31{acc[47]}}, acc, 17'd0};
    // differs[j]: acc[j] differs from the sign (j < 47); differs[47]: the zero below acc[0] does
    wire [47:0] differs = {acc[47], acc[46:0] ^ {47{acc[47]}}};

    // stage 1: coarse shift by 16 * u[5:4]; partial "does not fit" terms (six groups of 8)
    reg [31:0] t1;
    reg [5:0]  nf1;
    reg        sign1;
    reg [3:0]  u1;
    integer g;
    always @(posedge clk) begin
        t1 <= x[{1'b0, u[5:4], 4'd0} +: 32];
        for (g = 0; g < 6; g = g + 1)
            nf1[g] <= |(differs[8 * g +: 8] & fit_mask[8 * g +: 8]);
        sign1 <= acc[47];
        u1 <= u[3:0];
    end

    // stage 2: shift by 4 * u[3:2]; the "does not fit" flag
    reg [19:0] t2;
    reg        nf2, sign2;
    reg [1:0]  u2;
    always @(posedge clk) begin
        t2 <= t1[{1'b0, u1[3:2], 2'd0} +: 20];
        nf2 <= |nf1;
        sign2 <= sign1;
        u2 <= u1[1:0];
    end

    // stage 3: shift by u[1:0]: bit 0 = rounding bit, bits 16:1 = y0
    reg [16:0] t3;
    reg        nf3, sign3;
    always @(posedge clk) begin
        t3 <= t2[{3'd0, u2} +: 17];
        nf3 <= nf2;
        sign3 <= sign2;
    end

    // stage 4: round (one 16-bit increment), saturation decisions
    reg [15:0] v4;
    reg        hi4, lo4;
    always @(posedge clk) begin
        v4  <= t3[16:1] + {15'd0, t3[0]};
        hi4 <= nf3 ? !sign3 : (t3[16:1] == 16'h7fff && t3[0]);
        lo4 <= nf3 && sign3;
    end

    assign saturated = hi4 || lo4;

    // stage 5: saturate
    always @(posedge clk) word <= hi4 ? 16'sh7fff : lo4 ? 16'sh8000 : $signed(v4);
endmodule
