// Behavioural simulation model of the subset of the UltraScale+ DSP48E2 that mac_array.v uses, for
// Icarus and Verilator (Vivado uses its own unisim primitive; Yosys keeps the instance as a black-box
// cell). SIMULATION ONLY: never list this file among the synthesis sources.
//
// Subset (UG579): A2 register (AREG=1), B1 -> B2 register pair with independent enables (BREG=2),
// C register with enable and synchronous reset (CREG=0/1), M register (MREG=1), P register
// (PREG=1), static OPMODE/ALUMODE/INMODE inputs with
//   INMODE = 0 (multiplier takes A2 and B2), ALUMODE = 0 (P = W + X + Y + Z), X = Y = M,
//   Z in {0, PCIN}, W in {0, C}
// so P <= W + M + Z with M = A2[26:0] * B2 (signed 27 x 18). Anything outside this subset stops
// the simulation with a message instead of being modelled wrongly.
`timescale 1ns / 1ps
/* verilator lint_off DECLFILENAME */  // the module must carry the primitive's name
/* verilator lint_off UNUSEDPARAM */  // parameters of the primitive outside the subset
module DSP48E2 #(
    parameter integer AREG = 1,
    parameter integer ACASCREG = 1,
    parameter integer BREG = 2,
    parameter integer BCASCREG = 2,
    parameter integer CREG = 1,
    parameter integer DREG = 1,
    parameter integer ADREG = 1,
    parameter integer MREG = 1,
    parameter integer PREG = 1,
    parameter integer OPMODEREG = 1,
    parameter integer ALUMODEREG = 1,
    parameter integer INMODEREG = 1,
    parameter integer CARRYINREG = 1,
    parameter integer CARRYINSELREG = 1,
    parameter         USE_MULT = "MULTIPLY",
    parameter         USE_SIMD = "ONE48",
    parameter         AMULTSEL = "A",
    parameter         BMULTSEL = "B",
    parameter         A_INPUT = "DIRECT",
    parameter         B_INPUT = "DIRECT",
    parameter         PREADDINSEL = "A",
    parameter         USE_PATTERN_DETECT = "NO_PATDET"
) (
    /* verilator lint_on UNUSEDPARAM */
    input  wire        CLK,
    input  wire [29:0] A,
    input  wire [17:0] B,
    input  wire [47:0] C,
    input  wire [26:0] D,
    input  wire [47:0] PCIN,
    input  wire [29:0] ACIN,
    input  wire [17:0] BCIN,
    input  wire        CARRYCASCIN,
    input  wire        MULTSIGNIN,
    input  wire        CARRYIN,
    input  wire [2:0]  CARRYINSEL,
    input  wire [8:0]  OPMODE,
    input  wire [3:0]  ALUMODE,
    input  wire [4:0]  INMODE,
    input  wire        CEA1, CEA2, CEB1, CEB2, CEC, CED, CEAD, CEM, CEP,
    input  wire        CECTRL, CEALUMODE, CEINMODE, CECARRYIN,
    input  wire        RSTA, RSTB, RSTC, RSTD, RSTM, RSTP,
    input  wire        RSTCTRL, RSTALUMODE, RSTINMODE, RSTALLCARRYIN,
    output wire [47:0] P,
    output wire [47:0] PCOUT
);
    initial begin
        if (AREG != 1 || BREG != 2 || MREG != 1 || PREG != 1 || (CREG != 0 && CREG != 1) ||
            USE_MULT != "MULTIPLY" || USE_SIMD != "ONE48" || AMULTSEL != "A" || BMULTSEL != "B" ||
            A_INPUT != "DIRECT" || B_INPUT != "DIRECT" || OPMODEREG != 0 || ALUMODEREG != 0 ||
            INMODEREG != 0) begin
            $display("DSP48E2 model: parameter set outside the modelled subset (see hw/rtl/sim/dsp48e2_model.v)");
            $finish;
        end
    end

    reg signed [29:0] a2;
    reg signed [17:0] b1, b2;
    reg signed [47:0] c_reg, m_reg, p_reg;
    wire signed [47:0] c_val = (CREG == 1) ? c_reg : C;

    /* verilator lint_off UNUSEDSIGNAL */  // ports of the primitive outside the modelled subset
    wire unused = &{1'b0, D, ACIN, BCIN, CARRYCASCIN, MULTSIGNIN, CARRYIN, CARRYINSEL, CEA1, CED, CEAD,
                    CECTRL, CEALUMODE, CEINMODE, CECARRYIN, RSTD, RSTCTRL, RSTALUMODE, RSTINMODE,
                    RSTALLCARRYIN, a2[29:27], OPMODE[8:7], OPMODE[6:4], OPMODE[3:0]};
    /* verilator lint_on UNUSEDSIGNAL */

    always @(posedge CLK) begin
        if (RSTA) a2 <= 30'sd0; else if (CEA2) a2 <= A;
        if (RSTB) begin
            b1 <= 18'sd0;
            b2 <= 18'sd0;
        end else begin
            if (CEB1) b1 <= B;
            if (CEB2) b2 <= b1;
        end
        if (RSTC) c_reg <= 48'sd0; else if (CEC) c_reg <= C;
        if (RSTM) m_reg <= 48'sd0; else if (CEM) m_reg <= $signed(a2[26:0]) * b2;
    end

    // OPMODE subset: [3:0] = 0101 (X = Y = M), [6:4] in {000, 001} (Z = 0 / PCIN), [8:7] in {00, 11}
    wire opmode_ok = OPMODE[3:0] == 4'b0101 && (OPMODE[6:4] == 3'b000 || OPMODE[6:4] == 3'b001) &&
                     (OPMODE[8:7] == 2'b00 || OPMODE[8:7] == 2'b11) && ALUMODE == 4'd0 && INMODE == 5'd0;
    wire signed [47:0] w_val = OPMODE[8] ? c_val : 48'sd0;
    wire signed [47:0] z_val = OPMODE[4] ? $signed(PCIN) : 48'sd0;

    always @(posedge CLK) begin
        if (!opmode_ok) begin
            $display("DSP48E2 model: OPMODE %b / ALUMODE %b / INMODE %b outside the modelled subset",
                     OPMODE, ALUMODE, INMODE);
            $finish;
        end
        if (RSTP) p_reg <= 48'sd0; else if (CEP) p_reg <= w_val + m_reg + z_val;
    end

    assign P = p_reg;
    assign PCOUT = p_reg;
endmodule
