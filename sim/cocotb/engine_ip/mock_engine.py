"""A stand-in for the exported engine RTL, to check the cocotb bench's plumbing without Vitis.

Writes `onion_engine` in Verilog with the port names Vitis HLS gives the real top (ap_clk,
ap_rst_n, s_axi_control_*, m_axi_<bundle>_* for every port bundle of the engine contract) and the
ap_ctrl_hs protocol on the ctrl register. Its one job, on ap_start: act[y_off + k] = -act[x_off + k]
for k < n_tokens * in_dim, one AXI4 single-beat read and write each; then status = 0,
macs = n_tokens * in_dim, saturations = 0. Register offsets are Verilog parameters that the caller
takes from hw/spec/engine_spec.json (see `parameters()`).
"""

from __future__ import annotations

from pathlib import Path

from host import engine_spec

REGISTERS = ("ctrl", "act_addr", "x_off", "y_off", "n_tokens", "in_dim", "status", "macs_lo", "macs_hi", "saturations")
WORD_BITS = {"int16": 16, "int32": 32}


def parameters() -> dict[str, int]:
    return {f"R_{name.upper()}": int(engine_spec.register(name)["offset"]) for name in REGISTERS}


def _port_signals(width: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    outs = [
        ("AWID", 1),
        ("AWADDR", 64),
        ("AWLEN", 8),
        ("AWSIZE", 3),
        ("AWBURST", 2),
        ("AWVALID", 1),
        ("WDATA", width),
        ("WSTRB", width // 8),
        ("WLAST", 1),
        ("WVALID", 1),
        ("BREADY", 1),
        ("ARID", 1),
        ("ARADDR", 64),
        ("ARLEN", 8),
        ("ARSIZE", 3),
        ("ARBURST", 2),
        ("ARVALID", 1),
        ("RREADY", 1),
    ]
    ins = [
        ("AWREADY", 1),
        ("WREADY", 1),
        ("BID", 1),
        ("BRESP", 2),
        ("BVALID", 1),
        ("ARREADY", 1),
        ("RID", 1),
        ("RDATA", width),
        ("RRESP", 2),
        ("RLAST", 1),
        ("RVALID", 1),
    ]
    return outs, ins


def _decl(direction: str, name: str, width: int) -> str:
    return f"    {direction} wire {f'[{width - 1}:0] ' if width > 1 else ''}{name}"


ACTIVE = {  # the act port's outputs, driven by the copy engine below
    "AWID": "1'b0",
    "AWADDR": "act_base + {wr_index, 1'b0}",
    "AWLEN": "8'd0",
    "AWSIZE": "3'd1",
    "AWBURST": "2'b01",
    "AWVALID": "aw_pending",
    "WDATA": "word",
    "WSTRB": "2'b11",
    "WLAST": "1'b1",
    "WVALID": "w_pending",
    "BREADY": "1'b1",
    "ARID": "1'b0",
    "ARADDR": "act_base + {rd_index, 1'b0}",
    "ARLEN": "8'd0",
    "ARSIZE": "3'd1",
    "ARBURST": "2'b01",
    "ARVALID": "state == S_AR",
    "RREADY": "state == S_R",
}

BODY = """
    localparam S_IDLE = 0, S_AR = 1, S_R = 2, S_W = 3, S_B = 4;
    reg [31:0] regs [0:1023];
    reg [2:0] state;
    reg start, done, bvalid, rvalid, aw_pending, w_pending;
    reg [31:0] rdata, k, n;
    reg [15:0] word;
    wire [63:0] act_base = {regs[R_ACT_ADDR / 4 + 1], regs[R_ACT_ADDR / 4]};
    wire [63:0] rd_index = regs[R_X_OFF / 4] + k;
    wire [63:0] wr_index = regs[R_Y_OFF / 4] + k;
    wire aw_fire = s_axi_control_AWVALID && s_axi_control_WVALID && !bvalid;
    assign s_axi_control_AWREADY = aw_fire;
    assign s_axi_control_WREADY = aw_fire;
    assign s_axi_control_BVALID = bvalid;
    assign s_axi_control_BRESP = 2'b00;
    assign s_axi_control_ARREADY = !rvalid;
    assign s_axi_control_RVALID = rvalid;
    assign s_axi_control_RDATA = rdata;
    assign s_axi_control_RRESP = 2'b00;
    assign interrupt = 1'b0;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            state <= S_IDLE; start <= 0; done <= 0; bvalid <= 0; rvalid <= 0;
            aw_pending <= 0; w_pending <= 0; k <= 0;
        end else begin
            if (aw_fire) begin
                if (s_axi_control_AWADDR == R_CTRL) start <= s_axi_control_WDATA[0];
                else regs[s_axi_control_AWADDR[11:2]] <= s_axi_control_WDATA;
                bvalid <= 1;
            end else if (bvalid && s_axi_control_BREADY) bvalid <= 0;
            if (s_axi_control_ARVALID && !rvalid) begin
                rvalid <= 1;
                if (s_axi_control_ARADDR == R_CTRL) begin
                    rdata <= {29'd0, state == S_IDLE, done, start};
                    done <= 0;  // ap_done clears on read
                end else rdata <= regs[s_axi_control_ARADDR[11:2]];
            end else if (rvalid && s_axi_control_RREADY) rvalid <= 0;

            case (state)
                S_IDLE: if (start) begin
                    start <= 0; k <= 0; n <= regs[R_N_TOKENS / 4] * regs[R_IN_DIM / 4]; state <= S_AR;
                end
                S_AR: if (m_axi_gmem_act_ARREADY) state <= S_R;
                S_R: if (m_axi_gmem_act_RVALID) begin
                    word <= -m_axi_gmem_act_RDATA; aw_pending <= 1; w_pending <= 1; state <= S_W;
                end
                S_W: begin
                    if (m_axi_gmem_act_AWREADY) aw_pending <= 0;
                    if (m_axi_gmem_act_WREADY) w_pending <= 0;
                    if ((!aw_pending || m_axi_gmem_act_AWREADY) && (!w_pending || m_axi_gmem_act_WREADY)) state <= S_B;
                end
                S_B: if (m_axi_gmem_act_BVALID) begin
                    if (k + 1 == n) begin
                        regs[R_STATUS / 4] <= 0; regs[R_MACS_LO / 4] <= n; regs[R_MACS_HI / 4] <= 0;
                        regs[R_SATURATIONS / 4] <= 0; done <= 1; state <= S_IDLE;
                    end else begin
                        k <= k + 1; state <= S_AR;
                    end
                end
                default: state <= S_IDLE;
            endcase
        end
    end
"""


def write_mock(path: Path) -> Path:
    ports = engine_spec.load_spec()["ports"]
    decls = ["    input wire ap_clk", "    input wire ap_rst_n", "    output wire interrupt"]
    for name, width in (
        ("AWADDR", 12),
        ("AWVALID", 1),
        ("WDATA", 32),
        ("WSTRB", 4),
        ("WVALID", 1),
        ("BREADY", 1),
        ("ARADDR", 12),
        ("ARVALID", 1),
        ("RREADY", 1),
    ):
        decls.append(_decl("input", f"s_axi_control_{name}", width))
    for name, width in (
        ("AWREADY", 1),
        ("WREADY", 1),
        ("BRESP", 2),
        ("BVALID", 1),
        ("ARREADY", 1),
        ("RDATA", 32),
        ("RRESP", 2),
        ("RVALID", 1),
    ):
        decls.append(_decl("output", f"s_axi_control_{name}", width))
    assigns = []
    for port, desc in ports.items():
        if port.startswith("_"):
            continue
        width = WORD_BITS[desc["word"]]
        if port == "act" and width != 16:
            raise ValueError(f"the mock copies 16-bit words; port act is {desc['word']}")
        outs, ins = _port_signals(width)
        prefix = f"m_axi_{desc['bundle']}_"
        decls += [_decl("output", prefix + n, w) for n, w in outs]
        decls += [_decl("input", prefix + n, w) for n, w in ins]
        for n, w in outs:
            value = ACTIVE[n] if port == "act" else ("1'b1" if n in ("BREADY", "RREADY") else f"{w}'d0")
            assigns.append(f"    assign {prefix}{n} = {value};")
    params = ",\n".join(f"    parameter integer {k} = {v}" for k, v in parameters().items())
    text = (
        f"// GENERATED by sim/cocotb/engine_ip/mock_engine.py: a bench-plumbing stand-in, not the engine.\n"
        f"module onion_engine #(\n{params}\n) (\n"
        + ",\n".join(decls)
        + "\n);\n"
        + "\n".join(assigns)
        + "\n"
        + BODY
        + "endmodule\n"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
