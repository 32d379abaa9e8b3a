"""transformers' Trainer and accelerate on 2 CPU processes (gloo, 127.0.0.1), for test_hf.py's
2-process test (run as a script, not a test).

    python _hf_worker.py OUTDIR PORT

OUTDIR/code.json holds the code blocks to run ({"trainer", "recipe", "prepared", "default"}; the
last is test_hf.py's PREPARED_LOOP, run with accelerate's defaults).
Each rank runs them one after the other and writes OUTDIR/rank{r}.json: the LR (and for the
Trainer betas[0]) of every optimizer update it made, and the warnings cyclr emitted.
"""

import json
import os
import sys
from pathlib import Path

import torch
import torch.multiprocessing as mp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the tests package

WORLD = 2
TRAINER_UPDATES = 12
UPDATES = 8             # per process: 64 rows in batches of 2, half each, 2 per update


def run(rank, outdir, port):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD), ACCELERATE_USE_CPU="yes")
    torch.set_num_threads(1)
    import accelerate
    from accelerate.state import AcceleratorState, GradientState

    from tests.torch.hf_probe import LossNet, Rows, applied, cyclr_warnings, loader, net
    from tests.torch.hf_probe import run as run_block

    code = json.loads((outdir / "code.json").read_text())
    out = {}
    os.chdir(outdir)          # the Trainer's "out": rank 0 writes the checkpoints
    with cyclr_warnings() as warned:
        with applied() as seen:
            ns = run_block(code["trainer"], n=TRAINER_UPDATES, model=LossNet(), train=Rows(),
                           resume=False)
        (out["trainer"],) = seen.values()
        out["trainer_world_size"] = ns["args"].world_size
        for name in ("recipe", "prepared", "default"):
            AcceleratorState._reset_state(reset_partial_state=True)
            GradientState._reset_state()
            with applied() as seen:
                ns = run_block(code[name], n=UPDATES, model=net(), loader=loader(2),
                               loss_fn=torch.nn.functional.mse_loss,
                               Accelerator=accelerate.Accelerator, every_batch=False,
                               options={})
            (trace,) = seen.values()
            out[name] = [lr for lr, _ in trace]
        out["num_processes"] = ns["accelerator"].num_processes
        ns["accelerator"].wait_for_everyone()
    out["warned"] = warned
    (outdir / f"rank{rank}.json").write_text(json.dumps(out))
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()
    # as _scheduler_ddp_worker.py: gloo's threads can abort the interpreter's finalization now
    # and then (pytorch#179291); the results are on disk
    os._exit(0)


if __name__ == "__main__":
    outdir, port = Path(sys.argv[1]), int(sys.argv[2])
    mp.start_processes(run, args=(outdir, port), nprocs=WORLD, start_method="spawn")
