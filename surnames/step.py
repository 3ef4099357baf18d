"""One optimizer step of a course cell on a minibatch: the training loop's inner step, shared
with the benchmark so that it times exactly what training runs."""
import math

import torch
import torch.nn.functional as F

from surnames.errors import ProjectError

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
MAX_LOSS = 1e4  # NLL over 18 classes starts near 2.9: beyond this the run has blown up


def check_loss(loss: float, step: int, section: str, where: str = "") -> None:
    """Stop on a non-finite or exploding loss, naming the step (and `where`, e.g. " fold 2")."""
    if not math.isfinite(loss) or loss > MAX_LOSS:
        kind = "not finite" if not math.isfinite(loss) else f"exploding (> {MAX_LOSS:g})"
        raise ProjectError(f"{section}{where}: training loss {loss:.3g} at step {step} is {kind}; "
                           f"lower {section}.lr (e.g. to 0.001) or set {section}.grad_clip (e.g. 1.0)")


def build_optimizer(kind: str, parameters, lr: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """`kind`'s optimizer; Adam with weight decay is AdamW (decoupled decay). Fused: the whole
    update in one kernel (5x faster here than the per-tensor loop for the course LSTM's 10
    tensors; the same update, other last bits)."""
    if weight_decay > 0:
        optimizer = torch.optim.AdamW if kind == "adam" else OPTIMIZERS[kind]
        return optimizer(parameters, lr=lr, weight_decay=weight_decay, fused=True)
    return OPTIMIZERS[kind](parameters, lr=lr, fused=True)


def optimizer_step(model, optimizer, batch, grad_clip: float, step: int, section: str, where: str = "",
                   loss_weights: torch.Tensor | None = None) -> float:
    """One minibatch update; the loss (class-weighted NLL with `loss_weights`) is checked
    before it can touch the weights."""
    letters, lengths, targets = batch
    loss = F.nll_loss(model(letters, lengths), targets, weight=loss_weights)
    check_loss(loss.item(), step, section, where)
    optimizer.zero_grad()
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.item()
