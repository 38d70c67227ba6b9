# Short commands for the README. The real build is CMake (CMakeLists.txt).
#   make          build (Release) into build/
#   make test     install missing Debian build deps, build with -Werror, run CTest
#                 twice: default backend (cpu), then CNN_BACKEND=ref
#   make asan     the whole suite under AddressSanitizer + UBSan, both backends
#   make test-minimal  every optional dependency off (no oneDNN, libpng, libjpeg,
#                 matio, ONNX): builds with -Werror, runs the suite once (default backend);
#                 tests of a feature left out report as skipped
#   make demo     install deps + Fashion-MNIST, train the seeds' LeNet for 10 epochs
#   make fuzz     libFuzzer targets (clang) for every file reader, FUZZ_SECONDS each;
#                 make fuzz-smoke: 8 s each, what CI runs
BUILD      ?= build
ASAN_BUILD ?= build-asan
MIN_BUILD  ?= build-minimal
MIN_OPTS    = -DCNN_WITH_DNNL=OFF -DCNN_WITH_PNG=OFF -DCNN_WITH_JPEG=OFF -DCNN_WITH_MATIO=OFF \
              -DCNN_WITH_ONNX=OFF -DCNN_WITH_MPI=OFF
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
BUILD_DEPS  = cmake make gcc pkg-config libcmocka-dev zlib1g-dev libpng-dev libjpeg-dev libmatio-dev \
              libdnnl-dev libprotobuf-c-dev protobuf-c-compiler libonnx-dev \
              python3-onnx libonnx-testdata nodejs libopenmpi-dev openmpi-bin \
              gcc-arm-linux-gnueabihf libc6-dev-armhf-cross qemu-user gcc-arm-none-eabi libnewlib-arm-none-eabi
DEMO_DEPS   = dataset-fashion-mnist
FUZZ_DEPS   = clang libclang-rt-14-dev libomp-dev
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: all deps demo-deps test test-minimal asan demo clean install fuzz fuzz-smoke

all: $(BUILD)/.configured
	cmake --build $(BUILD) -j $(JOBS)

$(BUILD)/.configured:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	@touch $@

# Installs only what is missing, and only as root (others get a clear message).
deps:
	@./tools/install-deps.sh $(BUILD_DEPS)

demo-deps:
	@./tools/install-deps.sh $(BUILD_DEPS) $(DEMO_DEPS)

test: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DCNN_WERROR=ON
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) && \
		CNN_BACKEND=ref ctest --output-on-failure -j $(JOBS)

test-minimal: deps
	cmake -S . -B $(MIN_BUILD) -DCMAKE_BUILD_TYPE=Release -DCNN_WERROR=ON $(MIN_OPTS)
	cmake --build $(MIN_BUILD) -j $(JOBS)
	cd $(MIN_BUILD) && ctest --output-on-failure -j $(JOBS)

asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCNN_SANITIZE=ON -DCNN_WERROR=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 CNN_TEST_QUICK=1 \
		ctest --output-on-failure -j $(JOBS) && \
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 CNN_TEST_QUICK=1 CNN_BACKEND=ref \
		ctest --output-on-failure -j $(JOBS)

demo: demo-deps all
	./$(BUILD)/cnn train lenet --data fashion-mnist --epochs 10 --batch 256 --lr 0.9 --init xavier \
		--log lenet.csv --plot lenet.svg --out lenet.safetensors

fuzz:
	@./tools/install-deps.sh $(BUILD_DEPS) $(FUZZ_DEPS)
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCNN_FUZZ=ON -DCNN_TESTS=OFF
	cmake --build $(FUZZ_BUILD) -j $(JOBS)
	./tools/run-fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

fuzz-smoke:
	FUZZ_SEED=1 $(MAKE) fuzz FUZZ_SECONDS=8

install: all
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(MIN_BUILD) $(FUZZ_BUILD)
