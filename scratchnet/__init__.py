"""scratchnet: neural networks from scratch, as in Nielsen's book, on NumPy or CuPy.

    import scratchnet as sn
    data = sn.load_mnist()                              # 50,000 / 10,000 / 10,000
    net = sn.Network([sn.Dense(784, 30), sn.Sigmoid(),
                      sn.Dense(30, 10), sn.Sigmoid()], loss=sn.Quadratic())
    net.fit(data.train, epochs=30, batch_size=10, optimizer=sn.SGD(lr=3.0),
            validation_data=data.test)

One idea per module. The neural-network core: backend (numpy | cupy), layers,
activations, losses, initializers, conv, normalization, dropout, optimizers, callbacks,
network, inputs, augment, gradcheck, metrics. The periphery: idx, datasets, download
(data); io, modelfile, npz, files (model files); imaging, imagefile, raster, pieces,
preview (photos of digits); sweep (many runs at once).
"""
from .activations import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .augment import distort
from .backend import get_array_module, to_device, to_numpy
from .callbacks import (
                        BestWeights,
                        Callback,
                        EarlyStopping,
                        History,
                        LambdaCallback,
                        Piecewise,
                        ReduceLROnPlateau,
)
from .conv import Conv2D, MaxPool2D
from .datasets import load_fashion_mnist, load_mnist
from .dropout import Dropout
from .gradcheck import gradient_check
from .idx import DataNotFoundError, IDXError
from .io import load, save
from .layers import Dense, Flatten, Layer
from .losses import (
                        L1,
                        L2,
                        NLL,
                        BinaryCrossEntropy,
                        CategoricalCrossEntropy,
                        CrossEntropy,
                        Quadratic,
)
from .network import Network, TrainingWarning
from .normalization import BatchNorm
from .optimizers import SGD, Adam

__version__ = "0.2.0"

__all__ = [
    "Network", "TrainingWarning",
    "Layer", "Dense", "Flatten", "Conv2D", "MaxPool2D", "BatchNorm", "Dropout",
    "Sigmoid", "ReLU", "Tanh", "Softmax", "LogSoftmax",
    "Quadratic", "CrossEntropy", "BinaryCrossEntropy", "CategoricalCrossEntropy", "NLL", "L2", "L1",
    "SGD", "Adam",
    "Callback", "History", "LambdaCallback", "ReduceLROnPlateau", "Piecewise", "EarlyStopping",
    "BestWeights",
    "load_mnist", "load_fashion_mnist", "IDXError", "DataNotFoundError", "save", "load",
    "distort", "gradient_check",
    "get_array_module", "to_device", "to_numpy",
]
