"""The Explain page's model work, run in its QgsTask (no widgets here): load the model once per card and
device, read the window(s) of a click, classify an image file, compute a Grad-CAM heat map."""

from __future__ import annotations

from pathlib import Path


class ExplainWorker:
    """Keeps the loaded models and inspectors between requests; :meth:`run` answers one request dict."""

    def __init__(self, gradcam_ok: bool):
        self.gradcam_ok = gradcam_ok
        self._models: dict = {}  # (card, device) -> (model, card); touched by the worker only
        self._inspectors: dict = {}

    def clear(self) -> None:
        self._inspectors.clear()
        self._models.clear()

    def _model(self, card: str, device: str):
        key = (card, device)
        if key not in self._models:
            from ...core.errors import ClassificationError
            from ...models.card import ModelCardError
            from ...models.checkpoint import ModelLoadError, default_card_path, load_model
            from ...models.devices import resolve_device

            dev, _ = resolve_device(device)
            try:
                self._models[key] = load_model(Path(card) if card else default_card_path(), device=dev)
            except (ModelLoadError, ModelCardError) as exc:
                raise ClassificationError(f"cannot load the model: {exc}") from None
        return self._models[key]

    def _inspector_for(self, req: dict, model):
        from ...core.inspect import Inspector

        key = (req["path"], req["summary"], req["card"], req["device"])
        if key not in self._inspectors:
            if req["summary"]:
                insp = Inspector.from_summary(req["summary"], device=req["device"], model=model)
            else:
                insp = Inspector(req["path"], req["card"] or None, device=req["device"], model=model)
            self._inspectors[key] = insp
        return self._inspectors[key]

    def run(self, req: dict) -> dict:
        kind = req["kind"]
        if kind == "heat":
            return {"heat": req["inspector"].heat_map(req["window"], req["target"])}
        model = self._model(req["card"], req["device"])
        if kind == "file":
            from ...core.predict import predict_image

            pred = predict_image(
                req["path"], req["card"] or None, device=req["device"], gradcam=self.gradcam_ok,
                target=req["target"], model=model,
            )  # fmt: skip
            return {"prediction": pred}
        insp = self._inspector_for(req, model)
        if insp.run_grid is not None:
            cell = insp.cell_windows(req["x"], req["y"], req["crs"])
            windows = cell.windows
        else:
            cell, windows = None, [insp.window_at(req["x"], req["y"], req["crs"])]
        heat = None
        if windows and self.gradcam_ok:
            t = req["target"]
            heat = insp.heat_map(windows[0], windows[0].top_index if t is None else t)
        return {"inspector": insp, "cell": cell, "windows": windows, "heat": heat}
