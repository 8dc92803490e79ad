"""evals/analysis"""
