"""The `mobilenet-v1` family: MobileNetV1 pretrained here on the source task, then fixed.

1. pretrain a float MobileNetV1 on the source task (checkpoint artifact);
2. fix it: fold BN, prune, quantize all 14 blocks and fine-tune them with QAT on the source
   task (checkpoint artifact). Every front-end (any N) is a prefix of this one fixed network,
   so the features at each N are exact and shared across N.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from fixynn.arch import NUM_BLOCKS
from fixynn.config import Config, config_value
from fixynn.errors import FixynnError
from fixynn.hw.ir import HwGraph
from fixynn.nn.export import export_front_end
from fixynn.nn.fixed import INPUT_FRAC, FixedNet
from fixynn.nn.model import BackEnd, MobileNetV1
from fixynn.nn.prune import sparsity_of
from fixynn.store import Store, content_key
from fixynn.train.augment import augmenter
from fixynn.train.checkpoint import load_checkpoint, save_checkpoint
from fixynn.train.common import Split, data_key, derived_seed, device, load_split, recipe, timed
from fixynn.train.device import resolve_device
from fixynn.train.features import feature_sweep
from fixynn.train.frontends import Family, FrontEnd, Prepared
from fixynn.train.loops import Transform, evaluate, fit, scaled

# Config keys each stage's artifacts depend on (a prefix chain: later stages add keys).
PRETRAIN_KEYS = ("tasks.source", "model.width", "model.input_size", "model.in_channels",
                 "model.stride_plan", "train.seed", "train.pretrain_epochs", "train.batch_size",
                 "train.max_source_images", "train.max_test_images", "train.optimizer",
                 "train.lr", "train.warmup", "train.label_smoothing", "train.weight_decay",
                 "train.source_augment", "train.device")
FIX_KEYS = (*PRETRAIN_KEYS, "model.w_bits", "model.a_bits", "model.sparsity",
            "train.finetune_epochs", "train.finetune_lr", "train.finetune_batch_size",
            "train.max_finetune_images")
RESULT_KEYS = (*FIX_KEYS, "train.transfer_epochs", "train.max_train_images")
# Kinds of the artifacts this family keeps in the cache (fixynn.store)
PRETRAINED, FIXED = "pretrained", "fixed"
CHECKPOINT = "model.pt"


def stage_key(cfg: Config, keys: tuple[str, ...]) -> str:
    """Key of the artifacts that depend on `keys`, and on the source task's data (its
    content and preprocessing: a changed source image retrains everything). The device is
    the resolved one: float training differs across devices."""
    doc: dict[str, Any] = {k: config_value(cfg, k) for k in keys}
    doc["train.device"] = resolve_device(cfg.train.device).type
    doc["source_data"] = data_key(cfg, cfg.tasks.source)
    return content_key(doc)


class MobileNetFrontEnd(FrontEnd):
    """Blocks 0..N-1 of one QAT-fixed network."""

    def __init__(self, fixed: FixedNet) -> None:
        self.fixed = fixed

    def graph(self, n: int, meta: dict[str, Any]) -> HwGraph:
        return export_front_end(self.fixed, n, meta)

    def features(self, images: torch.Tensor, n_list: Sequence[int],
                 device: torch.device) -> Iterator[tuple[int, torch.Tensor]]:
        return feature_sweep(self.fixed, images, list(n_list), device)

    def out_frac(self, n: int) -> int:
        return self.fixed.out_frac(n)


class MobileNetFamily(Family):
    arch = "mobilenet-v1"

    def pixels(self) -> Transform:
        return scaled(INPUT_FRAC)

    def result_stage(self, cfg: Config) -> str:
        return stage_key(cfg, RESULT_KEYS)

    def meta(self, cfg: Config) -> dict[str, Any]:
        m = cfg.model
        return {"width": m.width, "stride_plan": m.stride_plan, "sparsity": m.sparsity}

    def prepare(self, cfg: Config, store: Store, progress: bool) -> Prepared:
        src = load_split(cfg, cfg.tasks.source, cfg.train.max_source_images)
        pre, pre_info = pretrain(cfg, src, store, progress)
        fixed, fix_info = fix_network(cfg, pre, src, store, progress)
        info = {"task": cfg.tasks.source, "train_images": len(src.x_train),
                "test_images": len(src.x_test), "pretrain": pre_info, "fix": fix_info,
                "description": (
                    f"Source task `{cfg.tasks.source}`: float {pre_info['float_acc']:.2f}%, "
                    f"fully fixed (N=14, integer front-end) {fix_info['fixed_acc_n14']:.2f}%; "
                    f"front-end weight sparsity {100 * fix_info['weight_sparsity']:.1f}%.")}
        return Prepared(pre, MobileNetFrontEnd(fixed), info)

    def back_end(self, network: nn.Module, n: int) -> nn.Module:
        assert isinstance(network, MobileNetV1)
        return BackEnd(network, n)


def _new_model(cfg: Config, num_classes: int) -> MobileNetV1:
    m = cfg.model
    return MobileNetV1(num_classes, m.width, m.input_size, m.in_channels, m.stride_plan)


class _QatNet(nn.Module):
    """Fixed (fake-quantized) blocks 0..13 + the float classifier, for QAT on the source."""

    def __init__(self, fixed: FixedNet, classifier: nn.Linear) -> None:
        super().__init__()
        self.fixed, self.classifier = fixed, classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.fixed(x).mean(dim=(2, 3)))


def _checkpointed(store: Store, kind: str, key: str,
                  model: nn.Module) -> dict[str, Any] | None:
    """Load `model`'s weights from the cached checkpoint artifact; its info, or None."""
    doc = store.load(kind, key)
    if doc is None:
        return None
    model.load_state_dict(load_checkpoint(store.path(kind, key) / CHECKPOINT))
    return doc["result"]


def _save_checkpoint(store: Store, kind: str, key: str, model: nn.Module,
                     info: dict[str, Any]) -> None:
    store.put(kind, key, {"kind": kind, "key": key, "result": info},
              lambda work: save_checkpoint(work / CHECKPOINT, model.state_dict()))


def pretrain(cfg: Config, src: Split, store: Store,
             progress: bool) -> tuple[MobileNetV1, dict[str, Any]]:
    """The float backbone trained on the source task (loaded if already in the cache)."""
    t = cfg.train
    torch.manual_seed(t.seed)
    model = _new_model(cfg, src.num_classes)
    key = stage_key(cfg, PRETRAIN_KEYS)
    info = _checkpointed(store, PRETRAINED, key, model)
    if info is not None:
        return model, info

    def run() -> dict[str, Any]:
        fit(model, src.x_train, src.y_train, scaled(INPUT_FRAC), epochs=t.pretrain_epochs,
            seed=t.seed, augment=augmenter(t.source_augment), desc="pretrain",
            progress=progress, **recipe(cfg))
        acc, loss = evaluate(model, src.x_test, src.y_test, scaled(INPUT_FRAC),
                             device=device(cfg))
        return {"float_acc": acc, "float_test_loss": loss, "seed": t.seed}

    info = timed(run)
    _save_checkpoint(store, PRETRAINED, key, model, info)
    return model, info


def fix_network(cfg: Config, pre: MobileNetV1, src: Split, store: Store,
                progress: bool) -> tuple[FixedNet, dict[str, Any]]:
    """BN-fold, prune and quantize all 14 blocks, then QAT on the source (or load)."""
    t = cfg.train
    pre.eval()
    fixed = FixedNet(pre, cfg.model.w_bits, cfg.model.a_bits)
    qat = _QatNet(fixed, copy.deepcopy(pre.classifier))
    key = stage_key(cfg, FIX_KEYS)
    info = _checkpointed(store, FIXED, key, qat)
    if info is not None:
        return fixed, info

    def run() -> dict[str, Any]:
        seed = derived_seed(t.seed, "finetune")
        fixed.prune(cfg.model.sparsity)
        pick = torch.randperm(len(src.x_train), generator=torch.Generator().manual_seed(seed))
        pick = pick[:t.max_finetune_images or len(pick)]  # a seeded random QAT subset
        fit(qat, src.x_train[pick], src.y_train[pick], scaled(INPUT_FRAC),
            epochs=t.finetune_epochs, batch_size=t.finetune_batch_size, lr=t.finetune_lr,
            seed=seed, augment=augmenter(t.source_augment), desc="fix (QAT)",
            progress=progress, device=device(cfg))
        # Source accuracy of the fully fixed network, through the exact integer front-end.
        feats = dict(feature_sweep(fixed, src.x_test, [NUM_BLOCKS], device(cfg)))[NUM_BLOCKS]
        head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), qat.classifier)
        acc, loss = evaluate(head, feats, src.y_test, scaled(fixed.out_frac(NUM_BLOCKS)),
                             device=device(cfg))
        weights = [layer.int_params().weight for layer in fixed.layers]
        zero = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
        return {"fixed_acc_n14": acc, "fixed_test_loss_n14": loss, "seed": seed,
                "weight_sparsity": zero,
                "min_layer_sparsity": min(sparsity_of(w) for w in weights)}

    info = timed(run)
    _save_checkpoint(store, FIXED, key, qat, info)
    return fixed, info


def load_networks(cfg: Config, store: Store) -> tuple[MobileNetV1, FixedNet]:
    """The pretrained float network and the fixed network of a finished sweep of `cfg`,
    from the cache `store`."""
    checkpoints = [store.path(kind, stage_key(cfg, keys)) / CHECKPOINT
                   for kind, keys in ((PRETRAINED, PRETRAIN_KEYS), (FIXED, FIX_KEYS))]
    for path in checkpoints:
        if not path.is_file():
            raise FixynnError(f"{path}: missing; run `fixynn transfer --out "
                              f"{store.root.parent}` with this config first")
    state = load_checkpoint(checkpoints[0])
    pre = _new_model(cfg, num_classes=state["classifier.weight"].shape[0])
    pre.load_state_dict(state)
    pre.eval()
    fixed = FixedNet(pre, cfg.model.w_bits, cfg.model.a_bits)
    _QatNet(fixed, copy.deepcopy(pre.classifier)).load_state_dict(
        load_checkpoint(checkpoints[1]))
    return pre, fixed
