"""Fine-tuning from the analyst's corrections and labels (no Qt, no QGIS).

- :mod:`.labels`: labelled places from edit logs, assessment samples and point/polygon layers;
- :mod:`.run`: the windows the engine reads there, the fine-tuning (models/finetune.py), the new card.
"""
