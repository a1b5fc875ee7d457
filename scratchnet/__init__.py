"""scratchnet: neural networks from scratch, as in Nielsen's book, on NumPy or CuPy.

    import scratchnet as sn
    data = sn.load_mnist()                              # 50,000 / 10,000 / 10,000
    net = sn.Network([sn.Dense(784, 30), sn.Sigmoid(),
                      sn.Dense(30, 10), sn.Sigmoid()], loss=sn.Quadratic())
    net.fit(data.train, epochs=30, batch_size=10, optimizer=sn.SGD(lr=3.0),
            validation_data=data.test)

One idea per module: backend (numpy | cupy), layers, activations, losses,
initializers, conv, normalization, dropout, optimizers, schedules, network,
data, io, files, imaging, gradcheck, metrics.
"""
from .activations import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .backend import get_array_module, to_device, to_numpy
from .conv import Conv2D, MaxPool2D
from .data import load_fashion_mnist, load_mnist
from .dropout import Dropout
from .io import load, save
from .layers import Dense, Flatten, Layer
from .losses import (L1, L2, NLL, BinaryCrossEntropy, CategoricalCrossEntropy, CrossEntropy,
                     Quadratic)
from .network import History, Network
from .normalization import BatchNorm
from .optimizers import SGD, Adam
from .schedules import EarlyStopping, Piecewise, ReduceLROnPlateau

__version__ = "0.1.0"
