#!/usr/bin/python3
"""A PyTorch language model of one's own, whose modules are called emb, lstm and fc (not the
word_language_model example's encoder, rnn, decoder), saved untrained as mine.pt with its
vocabulary mine.vocab: docs/interop.md converts it to weft with a key map. Run from the
repository's root (it reads tests/golden/lm_lstm2.txt for its words)."""
import torch
torch.manual_seed(0)
words = open("tests/golden/lm_lstm2.txt").read().replace("\n", " <eos> ").split()
vocab = sorted(set(words))

class MyLM(torch.nn.Module):
    def __init__(self, V, E, H):
        super().__init__()
        self.emb = torch.nn.Embedding(V, E)
        self.lstm = torch.nn.LSTM(E, H, num_layers=2)
        self.fc = torch.nn.Linear(H, V)

torch.save(MyLM(len(vocab), 8, 8).state_dict(), "mine.pt")
open("mine.vocab", "w").write("\n".join(vocab) + "\n")
