"""Explanations: the AU-grounded chain of thought for each face, its faithfulness check, optional
LLM phrasing, and the Exp-CoT instruction-data engine.

`cot` builds an `ferx.types.Explanation` from measured values and writes it as text from language
templates (`templates/`); `validate` checks any text against the structured explanation; `llm`
asks an OpenAI-compatible endpoint to rephrase it and keeps the template text when the reply is
not faithful; `data_engine` turns a labelled dataset into instruction-tuning JSONL.
"""
