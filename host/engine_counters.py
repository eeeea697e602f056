"""What the engine's counters say, per call (OpRecord) and summed over a run (Counters).

Field names are those of engine_spec.json "counters" (read by host/backends/base.py's
read_counter_registers); nothing here is estimated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from host import engine_spec as es

AXI_FIELDS = ("rd_bytes", "wr_bytes", "rd_bursts", "wr_bursts")


def zero_axi() -> dict[str, dict[str, int]]:
    """{port: {field: 0}} for every port and AXI field."""
    return {p: {f: 0 for f in AXI_FIELDS} for p in es.ports()}


class AxiTotals:
    """Totals over the ports of an `axi` dict {port: {rd_bytes, wr_bytes, rd_bursts, wr_bursts}}."""

    axi: dict

    @property
    def axi_bytes(self) -> int:
        return sum(v["rd_bytes"] + v["wr_bytes"] for v in self.axi.values())

    @property
    def axi_bursts(self) -> int:
        return sum(v["rd_bursts"] + v["wr_bursts"] for v in self.axi.values())


@dataclass
class OpRecord(AxiTotals):
    """What one engine call did, as its counters say (engine_spec.json "counters"): MACs, MAC-array
    cycles, saturations, element-wise unit cycles, the minimum AXI traffic of the call and the AXI
    bytes/bursts the engine moved per port."""

    op: str
    macs: int
    cycles: int
    saturations: int
    elementwise_cycles: int = 0
    min_axi_bytes: int = 0
    axi: dict = field(default_factory=zero_axi)

    @classmethod
    def from_counters(cls, op: str, c: dict) -> OpRecord:
        axi = {p: {f: int(fields[f]) for f in AXI_FIELDS} for p, fields in c["axi"].items()}
        return cls(
            op,
            int(c["macs"]),
            int(c["cycles"]),
            int(c["saturations"]),
            int(c["elementwise_cycles"]),
            int(c["min_axi_bytes"]),
            axi,
        )


@dataclass
class Counters(AxiTotals):
    """Sums of the OpRecords of a run (same field names as the engine's counters)."""

    macs: int = 0
    cycles: int = 0
    saturations: int = 0
    elementwise_cycles: int = 0
    min_axi_bytes: int = 0
    axi: dict = field(default_factory=zero_axi)
    calls: int = 0
    ops: list = field(default_factory=list)  # the OpRecords themselves, when add(keep=True)

    def add(self, rec: OpRecord, keep: bool = False) -> None:
        self.macs += rec.macs
        self.cycles += rec.cycles
        self.saturations += rec.saturations
        self.elementwise_cycles += rec.elementwise_cycles
        self.min_axi_bytes += rec.min_axi_bytes
        for port, fields in rec.axi.items():
            for f, v in fields.items():
                self.axi[port][f] += v
        self.calls += 1
        if keep:  # a training epoch makes ~10^5 calls: records kept only when someone reads them
            self.ops.append(rec)
