// One lane of output requantisation, bit-identical to onion::requantize (hw/include/onion/fixed.h):
//   shift > 0 : (acc + 2^(shift-1)) >>> shift, then saturate to 16 bits (round half up)
//   shift < 0 : acc << -shift, saturating (bounds checked before the shift, so no bits are lost)
//   shift = 0 : saturate
// Purely combinational; the caller registers the result.
`timescale 1ns / 1ps
module mac_requant (
    input  wire signed [47:0] acc,
    input  wire signed [6:0]  shift,      // -16 .. 47 (checked when the job starts)
    output reg  signed [15:0] word,
    output reg                saturated
);
    // 49 bits: adding half an LSB to the largest 48-bit value must not wrap.
    reg signed [48:0] acc_wide;
    reg signed [48:0] half;
    reg signed [48:0] rounded;
    reg signed [48:0] hi_limit;   // largest acc whose left shift still fits: 32767 >> left
    reg signed [48:0] lo_limit;   // smallest: -(32768 >> left)
    reg        [4:0]  left;

    always @* begin
        acc_wide  = {acc[47], acc};
        half      = 49'sd0;
        rounded   = acc_wide;
        hi_limit  = 49'sd0;
        lo_limit  = 49'sd0;
        left      = 5'd0;
        word      = 16'sd0;
        saturated = 1'b0;
        if (shift > 7'sd0) begin
            half    = 49'sd1 <<< (shift - 7'sd1);
            rounded = (acc_wide + half) >>> shift;
        end
        if (shift < 7'sd0) begin
            left  = 5'd0 - shift[4:0];   // -shift for -16 .. -1
            hi_limit = 49'sd32767 >>> left;
            lo_limit = -(49'sd32768 >>> left);
            if (acc_wide > hi_limit) begin
                word = 16'sh7fff;
                saturated = 1'b1;
            end else if (acc_wide < lo_limit) begin
                word = 16'sh8000;
                saturated = 1'b1;
            end else begin
                word = acc[15:0] << left;
            end
        end else if (rounded > 49'sd32767) begin
            word = 16'sh7fff;
            saturated = 1'b1;
        end else if (rounded < -49'sd32768) begin
            word = 16'sh8000;
            saturated = 1'b1;
        end else begin
            word = rounded[15:0];
        end
    end
endmodule
