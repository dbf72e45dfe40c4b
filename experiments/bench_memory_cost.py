"""What the fast memory costs per chunk, by adapter layers and by how many chunks are imagined
at once; writes results/fast_memory_cost.{json,md}.

    python experiments/bench_memory_cost.py --checkpoint checkpoints/robosuite-lift --threads 1
One memory update (`FastMemory.observe`, a forward and backward pass over one window) is timed
against imagining one chunk for a batch of candidates with the memory, the adapter in place and
folded into the weights. Batch 1 is the
paper's Algorithm 1a (each imagined chunk written back); a batch of N is the planning agent,
which imagines N candidates and writes one real chunk per chunk of env steps.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch

from sfplan.eval import write_results
from sfplan.eval.fast_memory_eval import memory_merge_seconds, memory_update_seconds
from sfplan.eval.world_model_eval import imagined_frames_per_second
from sfplan.fast import TARGETS, WINDOW_MODES, FastMemory, FastMemoryConfig
from sfplan.world_model import VideoWorldModel


def chunk_seconds(model: VideoWorldModel, batch: int, repeats: int) -> float:
    """Seconds to imagine one chunk (one denoising step, as the planner imagines) for `batch` candidates,
    after as many warm-up calls as the memory update gets (with one, the first batch timed read 70% slow)."""
    return batch * model.config.target_frames / imagined_frames_per_second(model, 1, batch, chunks=1, repeats=repeats, warmup=3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, type=Path, help="directory with world_model/ (a checkpoint or a training run)")
    parser.add_argument("--layers", nargs="+", default=list(TARGETS), choices=list(TARGETS), help="adapter layer sets to time")
    parser.add_argument("--window", default="whole", choices=WINDOW_MODES, help="what one update writes (FastMemoryConfig.window)")
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 16, 32], help="candidates imagined per chunk")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per measurement (the fastest is kept)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.add_argument("--name", default="fast_memory_cost", help="results file names: <out>/<name>.{json,md}")
    args = parser.parse_args()
    if min(args.batches) < 1 or args.repeats < 1:
        parser.error("--batches and --repeats must be >= 1")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = VideoWorldModel.from_pretrained(args.checkpoint / "world_model").eval()
    base = {batch: chunk_seconds(model, batch, args.repeats) for batch in args.batches}
    layers = {}
    for name in args.layers:
        memory = FastMemory(copy.deepcopy(model), FastMemoryConfig(layers=name, window=args.window))
        update = memory_update_seconds(memory, args.repeats)
        with_adapter = {batch: chunk_seconds(memory.model, batch, args.repeats) for batch in args.batches}
        merge = memory_merge_seconds(memory, args.repeats)
        with memory.merged():
            merged = {batch: merge + chunk_seconds(memory.model, batch, args.repeats) for batch in args.batches}
        imagined = {batch: merged[batch] if batch > 1 else with_adapter[batch] for batch in args.batches}
        layers[name] = {
            "adapter_parameters": sum(parameter.numel() for parameter in memory.parameters),
            "update_seconds": update,
            "merge_seconds": merge,
            "chunk_seconds_with_adapter": with_adapter,
            "chunk_seconds_merged": merged,
            "time_overhead": {batch: (update + imagined[batch]) / base[batch] - 1.0 for batch in args.batches},
            "time_overhead_adapter_in_place": {batch: (update + with_adapter[batch]) / base[batch] - 1.0 for batch in args.batches},
        }
    results = {"checkpoint": str(args.checkpoint), "threads": args.threads, "window": args.window, "chunk_seconds": base, "layers": layers}
    header = ["adapter layers", "LoRA parameters", "update ms", "merge ms",
              *[f"overhead, batch {batch}" for batch in args.batches],
              *[f"adapter in place, batch {batch}" for batch in args.batches if batch > 1]]
    rows = [[name, entry["adapter_parameters"], round(entry["update_seconds"] * 1000, 1), round(entry["merge_seconds"] * 1000, 1),
             *[f"{entry['time_overhead'][batch]:+.0%}" for batch in args.batches],
             *[f"{entry['time_overhead_adapter_in_place'][batch]:+.0%}" for batch in args.batches if batch > 1]]
            for name, entry in layers.items()]
    chunk_text = ", ".join(f"batch {batch}: {seconds * 1000:.1f} ms" for batch, seconds in base.items())
    write_results(args.out, args.name, results, header, rows,
                  notes=f"World model of {args.checkpoint}, {args.threads} torch thread(s), fastest of {args.repeats} calls, "
                        f"updates with window={args.window!r}. "
                        f"Imagining one chunk without memory: {chunk_text}. Overhead, batch N: (one update + one chunk "
                        "for N candidates with the memory) / (that chunk without the memory) - 1, the chunk imagined as "
                        "`imagine_latents` and the agent do: with the adapter in place at batch 1, folded into the "
                        "weights for N > 1 (`FastMemory.merged`, merge ms included); 'adapter in place' columns: without "
                        "folding. Batch 1 is Algorithm 1a (every imagined chunk written into the memory); batch N is "
                        "the planning agent (N candidates imagined, one real chunk written).")
    print((args.out / f"{args.name}.md").read_text())


if __name__ == "__main__":
    main()
