/* A short run on real Fashion-MNIST clearly beats chance. Needs Debian's
   dataset-fashion-mnist: without it (and under CNN_TEST_QUICK) CTest reports the test
   as skipped, not passed. */
#include <stdio.h>
#include <unistd.h>

#include "testutil.h"

/* Real data: 1 epoch of LeNet-ReLU (at 28x28) on the first 6000 Fashion-MNIST images. */
static void test_fashion_mnist_beats_chance(void **state)
{
    (void)state;
    if (tu_quick()) tu_skip("CNN_TEST_QUICK: no real-data training in the sanitizer run");
    if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK) != 0)
        tu_skip("dataset-fashion-mnist is not installed (make demo-deps installs it)");
    cnn_dataset tr, te;
    TU_OK(cnn_dataset_open("fashion-mnist", true, &tr));
    TU_OK(cnn_dataset_open("fashion-mnist", false, &te));
    cnn_model m;
    TU_OK(cnn_model_new("lenet_relu", &(cnn_model_opts){.batch = 64, .height = 28, .width = 28}, 0, &m));
    cnn_train_config c = {.epochs = 1, .batch = 64, .seed = 1, .limit_train = 6000, .limit_test = 2000};
    c.optim = (cnn_optim_opts){.kind = CNN_OPTIM_ADAM, .lr = 0.003f};
    cnn_epoch_stats last;
    TU_OK(cnn_train(&m, &tr, &te, &c, &last));
    printf("fashion-mnist, lenet_relu, 1 epoch on 6000: loss %.3f, train acc %.3f, test acc %.3f\n",
           last.train_loss, last.train_acc, last.test_acc);
    assert_true(last.test_acc > 0.5); /* chance is 0.1 */
    cnn_model_free(&m);
    cnn_dataset_free(&tr);
    cnn_dataset_free(&te);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fashion_mnist_beats_chance),
    };
    return tu_exit_status(cmocka_run_group_tests(tests, NULL, NULL));
}
