"""WST: a weak teacher writes per-question instructions; a strong student answers with them;
the teacher is trained by RL (GRPO) on the student's outcomes. Only the teacher is trained."""
