"""One optimizer step of a course cell on a minibatch: the training loop's inner step, shared
with the benchmark so that it times exactly what training runs."""
import math

import torch
import torch.nn.functional as F

from surnames.errors import ProjectError

MAX_LOSS = 1e4  # NLL over 18 classes starts near 2.9: beyond this the run has blown up


class Diverged(ProjectError):
    """A training run blew up (its loss not finite, or beyond MAX_LOSS) at `step`."""

    def __init__(self, message: str, step: int):
        super().__init__(message)
        self.step = step

    def __reduce__(self):  # raised in a worker, rebuilt in the stage: both arguments cross the pipe
        return type(self), (str(self), self.step)


def check_loss(loss: float, step: int, section: str, where: str = "") -> None:
    """Stop on a non-finite or exploding loss, naming the step (and `where`, e.g. " fold 2")."""
    if not math.isfinite(loss) or loss > MAX_LOSS:
        kind = "not finite" if not math.isfinite(loss) else f"exploding (> {MAX_LOSS:g})"
        raise Diverged(f"{section}{where}: training loss {loss:.3g} at step {step} is {kind}; "
                       f"lower {section}.lr (e.g. to 0.001) or set {section}.grad_clip (e.g. 1.0)", step)


class Optimizer:
    """Adam (AdamW: decoupled weight decay, when weight_decay > 0) or SGD over `parameters`,
    run as the fused kernels that torch.optim.Adam / AdamW / SGD(fused=True) run (the whole
    update in one kernel: 5x faster here than the per-tensor loop for the course LSTM's 10
    tensors), with the same state and arguments, so the same bits (tests/test_step.py).
    Not torch.optim itself: its step() imports torch._dynamo, 1.3-1.8 s at the start of
    every training stage. `lr` may be changed between steps (the cosine schedule)."""

    KINDS = ("adam", "sgd")

    def __init__(self, kind: str, parameters, lr: float, weight_decay: float = 0.0,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        if kind not in self.KINDS:
            raise ValueError(f"unknown optimizer {kind!r}: expected one of {', '.join(self.KINDS)}")
        self.kind, self.lr, self.weight_decay, self.betas, self.eps = kind, lr, weight_decay, betas, eps
        self.parameters = [p for p in parameters if p.requires_grad]
        if kind == "adam":  # torch.optim.Adam's state for fused=True: float32 step counts, zero moments
            self.steps = [torch.zeros((), dtype=torch.float32) for _ in self.parameters]
            self.averages = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.parameters]
            self.squares = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.parameters]

    @property
    def decoupled(self) -> bool:
        """AdamW's decay (from the weights), not Adam's (an L2 term in the gradient)."""
        return self.kind == "adam" and self.weight_decay > 0

    def zero_grad(self) -> None:
        for p in self.parameters:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        live = [i for i, p in enumerate(self.parameters) if p.grad is not None]
        params = [self.parameters[i] for i in live]
        grads = [p.grad for p in params]
        if not params:
            return
        if self.kind == "sgd":
            torch._fused_sgd_(params, grads, [], weight_decay=self.weight_decay, momentum=0.0, lr=self.lr,
                              dampening=0.0, nesterov=False, maximize=False, is_first_step=False)
            return
        steps = [self.steps[i] for i in live]
        torch._foreach_add_(steps, 1)
        update = torch._fused_adamw_ if self.decoupled else torch._fused_adam_
        update(params, grads, [self.averages[i] for i in live], [self.squares[i] for i in live], [], steps,
               amsgrad=False, lr=self.lr, beta1=self.betas[0], beta2=self.betas[1], weight_decay=self.weight_decay,
               eps=self.eps, maximize=False)


def cosine_lr(base: float, step: int, steps: int) -> float:
    """The lr after `step` of `steps` under a cosine decay from `base` to 0 (closed form)."""
    return base * (1 + math.cos(math.pi * step / steps)) / 2


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
