"""Class semantics shared by preprocess, training and query: feature-to-text logits and relevancy
maps (``relevancy``) and Region Semantic Ranking (``rsr``)."""
