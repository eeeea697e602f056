// Smoke-test DUT: Q4.12 x Q4.12 -> Q8.8, round half up, saturate. Registered output.
`timescale 1ns / 1ps
module fixed_mul (
    input  wire               clk,
    input  wire signed [15:0] a,
    input  wire signed [15:0] b,
    output reg  signed [15:0] p
);
    wire signed [31:0] prod = a * b;
    wire signed [32:0] rounded = ($signed({prod[31], prod}) + 33'sd32768) >>> 16;
    always @(posedge clk) begin
        if (rounded > 33'sd32767)       p <= 16'sh7fff;
        else if (rounded < -33'sd32768) p <= 16'sh8000;
        else                            p <= rounded[15:0];
    end
endmodule
