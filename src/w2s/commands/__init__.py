"""The work behind the commands that are not a method of their own: `w2s eval`, `w2s grade`,
`w2s rm train/check` and `w2s judge check`.

Command modules sit above every component (tasks, graders, scoring, the reward model, the judge,
the model interface) and import from them, never the reverse; `w2s.cli` parses arguments and
prints. The two methods live in `w2s.wst` and `w2s.reason`, the proxy in `w2s.serve`.
"""
