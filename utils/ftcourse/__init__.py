"""ftcourse: the shared package of the course "Fine-Tuning LLMs: full fine-tuning vs PEFT".

Every lesson and lab imports from here; modules are named after the idea they hold
(`env`, `models`, `data`, `evaluate`, `train`, ...). Submodules are imported on use so
that `import ftcourse` stays fast.
"""

__version__ = "0.1.0"
